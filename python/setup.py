"""setup.py - `pip install ./python` (from the repository root, after `make`):
installs the ctrace package with build/libctrace.so (and build/libctrace_app.so,
the application layer ctrace.run() loads, when built) copied into it.

No compiler runs here: the library is the one `make` built (or $CTRACE_LIB).
There is deliberately no pyproject.toml: with one, pip builds in an isolated
environment and downloads setuptools first, which fails offline; without it,
pip uses the setuptools already installed (Debian's python3-setuptools).
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


def library():
    p = os.environ.get("CTRACE_LIB") or os.path.join(os.path.dirname(HERE), "build", "libctrace.so")
    if not os.path.exists(p):
        raise SystemExit(f"ctrace: {p} not found: run `make` in the repository first (or set CTRACE_LIB)")
    return p


class BuildWithLibrary(build_py):
    """build_py that also puts libctrace.so (and libctrace_app.so) inside the package."""

    def run(self):
        super().run()
        dst = os.path.join(self.build_lib, "ctrace", "libctrace.so")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        core = library()
        shutil.copyfile(core, dst)
        # the application layer (ct_run), beside the core it links against
        app = os.environ.get("CTRACE_APP_LIB") or os.path.join(os.path.dirname(core), "libctrace_app.so")
        if os.path.exists(app):
            shutil.copyfile(app, os.path.join(self.build_lib, "ctrace", "libctrace_app.so"))


class BinaryDistribution(Distribution):
    """The package carries a shared library: a platform wheel, not a pure one."""

    def has_ext_modules(self):
        return True


setup(
    name="ctrace",
    version="0.2.0",
    description="Causal tracing (ROME's activation patching) of Hugging Face language models: "
                "Python binding of libctrace",
    packages=["ctrace"],
    package_dir={"ctrace": "ctrace"},
    python_requires=">=3.8",
    install_requires=["numpy"],
    cmdclass={"build_py": BuildWithLibrary},
    distclass=BinaryDistribution,
    zip_safe=False,
)
