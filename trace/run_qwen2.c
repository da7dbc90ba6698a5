/* run_qwen2.c -- `vlmtrace run` for Qwen2-VL and Qwen2.5-VL (run.h): decode, preprocess, forward, --out. */
#include "run.h"

int vt_run_qwen2(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st)
{
    (void)cfg;
    (void)tr;
    return vt_fail(st, VT_EINPUT, "%s: Qwen2-VL / Qwen2.5-VL forward not implemented yet", o->model_dir);
}
