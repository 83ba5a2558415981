"""Builds adeadvm._adeadvm from this repository's sources: `make` in the top folder builds
libadeadvm.a (position-independent), which the extension links statically; the executor plugins
built beside it (CUDA, Vulkan) are copied into the package, where the library finds them."""
import glob
import os
import shutil
import subprocess

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("ADEAD_SOURCE", os.path.normpath(os.path.join(HERE, "..", "..")))
BUILD = os.path.join(TOP, "build")


class BuildWithMake(build_ext):
    def run(self):
        subprocess.check_call(["make", "-C", TOP, "-j%d" % (os.cpu_count() or 2), "all"])
        super().run()
        # Plugins next to the extension: libadeadvm looks in its own folder and its adeadvm/.
        for ext in self.extensions:
            dest = os.path.join(os.path.dirname(self.get_ext_fullpath(ext.name)), "adeadvm")
            plugins = glob.glob(os.path.join(BUILD, "lib", "adeadvm", "libadeadvm-*.so"))
            if plugins:
                os.makedirs(dest, exist_ok=True)
                for p in plugins:
                    shutil.copy2(p, dest)


setup(
    ext_modules=[
        Extension(
            "adeadvm._adeadvm",
            sources=[os.path.join("src", "_adeadvm.c")],
            include_dirs=[os.path.join(TOP, "include"), numpy.get_include()],
            extra_objects=[os.path.join(BUILD, "lib", "libadeadvm.a")],
            libraries=["m", "pthread", "dl"],
            extra_compile_args=["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-Wno-missing-field-initializers"],
        )
    ],
    cmdclass={"build_ext": BuildWithMake},
)
