/* version.h -- the version of vlmtrace: `vlmtrace --version`, and the producer every manifest records. */
#ifndef VT_VERSION_H
#define VT_VERSION_H

#define VLMTRACE_VERSION "0.1.0"
/* manifest.json's "producer" for a trace we wrote; guard.h tells ours from another's by it */
#define VT_PRODUCER "vlmtrace " VLMTRACE_VERSION

#endif
