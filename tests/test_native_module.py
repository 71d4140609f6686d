"""The shape of the native module: submodules, stubs, exception classes."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import pytest

import skms
import skms._native
from skms import errors

FAMILIES = ["constant_time", "ed25519", "secp256k1"]
PUBLIC = {
    "constant_time": "skms.hazmat.constant_time",
    "ed25519": "skms.crypto.ed25519",
    "secp256k1": "skms.crypto.secp256k1",
}
STUBS = Path(skms.__file__).parent / "_native"


@pytest.mark.parametrize("family", FAMILIES)
def test_submodules_import_by_name(family: str) -> None:
    module = importlib.import_module(f"skms._native.{family}")
    assert module.__name__ == f"skms._native.{family}"
    assert sys.modules[f"skms._native.{family}"] is module


@pytest.mark.parametrize("family", FAMILIES)
def test_submodules_are_attributes_of_the_package(family: str) -> None:
    assert getattr(skms._native, family) is sys.modules[f"skms._native.{family}"]
    assert family in skms._native.__all__


@pytest.mark.parametrize("family", FAMILIES)
def test_public_modules_reexport_the_native_functions(family: str) -> None:
    native = importlib.import_module(f"skms._native.{family}")
    public = importlib.import_module(PUBLIC[family])
    assert public.__all__
    for name in public.__all__:
        assert getattr(public, name) is getattr(native, name)
        assert callable(getattr(public, name))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_native_function_has_a_stub(family: str) -> None:
    stub = (STUBS / f"{family}.pyi").read_text(encoding="utf-8")
    native = importlib.import_module(f"skms._native.{family}")
    functions = [n for n, v in vars(native).items() if callable(v) and not n.startswith("_")]
    assert functions
    for name in functions:
        assert f"def {name}(" in stub, f"{family}.{name} has no stub"


def test_package_ships_type_information() -> None:
    assert (STUBS.parent / "py.typed").is_file()
    assert (STUBS / "__init__.pyi").is_file()


def test_error_hierarchy() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert inspect.isclass(cls)
        assert issubclass(cls, errors.SKMSError)
    # Type errors are also TypeError and the input errors ValueError, so callers
    # that catch the builtins keep working.
    assert issubclass(errors.InvalidType, TypeError)
    assert issubclass(errors.InvalidType, errors.InvalidInput)
    for cls in (errors.InvalidKey, errors.InvalidSignature, errors.InvalidInput):
        assert issubclass(cls, ValueError)
    assert issubclass(errors.InvalidKey, errors.InvalidInput)
    assert issubclass(errors.InvalidSignature, errors.InvalidInput)
