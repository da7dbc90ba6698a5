#!/usr/bin/python3
"""Open report.html of `vlmtrace diff --report` in a real browser (headless Chromium) and check it.

    /usr/bin/python3 tests/report_browser.py REPORT_DIR... [--shots DIR]

Run by `make docs-check` on two bug-zoo reports (tests/report_pictures.py --keep makes them). Needs Debian's
chromium, chromium-driver (/usr/bin/chromedriver), python3-selenium, python3-pil and poppler-utils. For each
report:
  1. no console errors in the browser log;
  2. every <img> has loaded, and its naturalWidth is the width its PNG header gives;
  3. every picture's area in a screenshot has more than one colour;
  4. at 390 x 844 (a phone) the page does not scroll sideways;
  5. `chromium --print-to-pdf` gives pages that are not blank (pdftoppm; more than one colour each).
Screenshots (desktop, phone, each PDF page) are kept in --shots (default build/report-check/) for a person
to look at. Exit 0 when every check holds, 1 otherwise (one line per problem).
"""
import base64
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
problems = []


def problem(what):
    problems.append(what)
    print("report_browser: " + what)


def colours(png_bytes, inset=0):
    """Distinct colours of a PNG, `inset` pixels cut from every side (an <img>'s border is not the picture)."""
    from PIL import Image
    im = Image.open(io.BytesIO(png_bytes)).convert("RGB")
    if inset and im.width > 2 * inset and im.height > 2 * inset:
        im = im.crop((inset, inset, im.width - inset, im.height - inset))
    c = im.getcolors(maxcolors=1 << 16)
    return len(c) if c is not None else 1 << 16


def png_width(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">I", data[16:20])[0]


def check_page(path, shots, tag):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    profile = tempfile.mkdtemp(prefix="vt-chromium-")
    opts = webdriver.ChromeOptions()
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument("--user-data-dir=" + profile)
    opts.add_argument("--window-size=1280,1000")
    opts.binary_location = "/usr/bin/chromium"
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        url = "file://" + os.path.abspath(path)
        drv.get(url)
        # 1. console
        for entry in drv.get_log("browser"):
            if entry.get("level") == "SEVERE":
                problem(f"{path}: console error: {entry.get('message')}")
        # 2. and 3. the pictures
        imgs = drv.find_elements(By.TAG_NAME, "img")
        if not imgs:
            problem(f"{path}: no <img>")
        for k, img in enumerate(imgs):
            src = img.get_attribute("src") or ""
            if not src.startswith("data:image/png;base64,"):
                problem(f"{path}: img {k} is not an embedded PNG")
                continue
            want = png_width(base64.b64decode(src.split(",", 1)[1]))
            done, natural = drv.execute_script("return [arguments[0].complete, arguments[0].naturalWidth]", img)
            if not done or natural != want:
                problem(f"{path}: img {k}: naturalWidth {natural}, its PNG is {want} wide")
            drv.execute_script("arguments[0].scrollIntoView()", img)
            shot = img.screenshot_as_png
            if colours(shot, inset=3) <= 1:
                problem(f"{path}: img {k} ({img.get_attribute('alt')}) is one colour on screen")
        height = drv.execute_script("return document.documentElement.scrollHeight")
        drv.set_window_size(1280, min(int(height) + 120, 16000))
        drv.save_screenshot(os.path.join(shots, f"{tag}.desktop.png"))
        # 4. a phone
        drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
        drv.get(url)
        sw, cw = drv.execute_script("return [document.documentElement.scrollWidth, "
                                    "document.documentElement.clientWidth]")
        if sw > cw:
            problem(f"{path}: at 390 px the page is {sw} px wide: it scrolls sideways")
        drv.save_screenshot(os.path.join(shots, f"{tag}.phone.png"))
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def check_pdf(path, shots, tag):
    profile = tempfile.mkdtemp(prefix="vt-chromium-")
    pdf = os.path.join(shots, f"{tag}.pdf")
    try:
        subprocess.run(["/usr/bin/chromium"] + FLAGS + ["--user-data-dir=" + profile, "--no-pdf-header-footer",
                        "--print-to-pdf=" + pdf, "file://" + os.path.abspath(path)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not os.path.exists(pdf) or os.path.getsize(pdf) == 0:
        problem(f"{path}: --print-to-pdf wrote no PDF")
        return
    for old in os.listdir(shots):
        if old.startswith(f"{tag}.pdf-page"):
            os.remove(os.path.join(shots, old))
    subprocess.run(["pdftoppm", "-r", "40", "-png", pdf, os.path.join(shots, f"{tag}.pdf-page")], check=True)
    pages = sorted(p for p in os.listdir(shots) if p.startswith(f"{tag}.pdf-page"))
    if not pages:
        problem(f"{path}: the PDF has no pages")
    for p in pages:
        if colours(open(os.path.join(shots, p), "rb").read()) <= 1:
            problem(f"{path}: PDF page {p} is blank")
    print(f"report_browser: {path}: {len(pages)} PDF page(s)")


def main():
    args = sys.argv[1:]
    shots = "build/report-check"
    if "--shots" in args:
        i = args.index("--shots")
        shots = args[i + 1]
        del args[i:i + 2]
    if not args:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    os.makedirs(shots, exist_ok=True)
    for d in args:
        page = os.path.join(d, "report.html")
        tag = os.path.basename(os.path.normpath(d))
        if not os.path.exists(page):
            problem(f"{page}: missing")
            continue
        check_page(page, shots, tag)
        check_pdf(page, shots, tag)
    print(f"report_browser: {len(args)} report(s), {len(problems)} problem(s); screenshots in {shots}/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
