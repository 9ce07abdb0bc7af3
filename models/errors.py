"""Specific, actionable errors raised by the model layer."""

from __future__ import annotations


class SalesvoiceError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(SalesvoiceError):
    """A settings file or environment override is invalid (unknown key, bad value)."""


class MissingExtraError(SalesvoiceError, ImportError):
    """A backend needs an optional dependency that is not installed."""

    def __init__(self, backend: str, extra: str, module: str) -> None:
        super().__init__(
            f"backend {backend!r} needs the Python module {module!r}, which is not installed; "
            f"install the extra: pip install 'salesvoice[{extra}]'"
        )
        self.backend = backend
        self.extra = extra
        self.module = module


class ModelNotFoundError(SalesvoiceError, FileNotFoundError):
    """Model weights are not where the settings say they are."""


class IntegrityError(SalesvoiceError):
    """A packaged weight file does not match its pinned sha256."""


class ModelRuntimeError(SalesvoiceError, RuntimeError):
    """A backend failed while running inference."""


class SchemaValidationError(SalesvoiceError, ValueError):
    """Model output does not validate against the requested JSON schema."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(f"{message}; raw output: {raw[:300]!r}")
        self.raw = raw
