"""fastanswer: an sdist-only package with a C extension, for pycontainer's e2e tests.

setup.py also records, in fastanswer/_build_info.txt (shipped in the wheel), where it ran:
the machine, and, when the sdist carries probe_paths.txt (the e2e test adds it), whether
each path listed there could be read, the entries of each directory listed with a
trailing /, the names of the environment variables, and whether the canary file named
in probe_canary.txt could be written. The test reads that file back from the image.
"""
import os
import platform

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def probe():
    lines = ["machine " + platform.machine(), "home " + os.environ.get("HOME", "")]
    listed = os.path.join(HERE, "probe_paths.txt")
    if os.path.exists(listed):
        with open(listed) as f:
            paths = [p.strip() for p in f if p.strip()]
        for p in paths:
            p = os.path.expanduser(p)
            if p.endswith("/"):
                try:
                    lines.append("listed %s %s" % (p, " ".join(sorted(os.listdir(p)))))
                except OSError as e:
                    lines.append("unlistable %s (%s)" % (p, e.strerror))
                continue
            try:
                with open(p, "rb") as f:
                    f.read(1)
                lines.append("readable " + p)
            except OSError as e:
                lines.append("unreadable %s (%s)" % (p, e.strerror))
        for name in sorted(os.environ):
            lines.append("env " + name)
    canary = os.path.join(HERE, "probe_canary.txt")
    if os.path.exists(canary):
        with open(canary) as f:
            target = f.read().strip()
        try:
            with open(target, "a") as f:
                f.write("fastanswer's setup.py ran here, on %s\n" % platform.machine())
            lines.append("wrote " + target)
        except OSError as e:
            lines.append("unwritable %s (%s)" % (target, e.strerror))
    with open(os.path.join(HERE, "fastanswer", "_build_info.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


probe()
setup(
    name="fastanswer",
    version="1.0",
    description="An sdist-only package with a C extension (pycontainer e2e fixture)",
    packages=["fastanswer"],
    package_data={"fastanswer": ["_build_info.txt"]},
    ext_modules=[Extension("fastanswer._answer", ["fastanswer/_answer.c"])],
    zip_safe=False,
)
