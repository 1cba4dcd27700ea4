# pip install ./python (Debian 12: add --break-system-packages for the system Python, or
# use a venv made with --system-site-packages so that numpy and torch come from Debian).
# Pure Python over liblext.so (ctypes): nothing is compiled and nothing is downloaded.
from setuptools import setup

setup(
    name="lext",
    version="1.1.0",
    description="byte-level causal transformer language models (XPOS, RoPE, ALiBi) over liblext",
    packages=["lext"],
    python_requires=">=3.9",
    install_requires=["numpy"],
    extras_require={"torch": ["torch"]},  # lext.torch; Debian: python3-torch
)
