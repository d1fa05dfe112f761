"""Where the model comes from: environment variables and an optional config file (env wins).

Config file: ``--config FILE``, else ``$WARDEN_CONFIG``, else ``$WARDEN_HOME/config.yaml`` when
it exists. Its shape::

    llm:
      model: gpt-4o-mini             # or a local model served by Ollama / vLLM
      base_url: http://localhost:11434/v1
      api_key: ...                   # better: OPENAI_API_KEY in the environment
      timeout_s: 60
      max_retries: 3                 # our retries; the client's own are off
      backoff_s: 1.0                 # first wait; doubles each retry (Retry-After wins)
      max_output_tokens: 4096
      temperature: 0.0
      structured_output: json_schema # or function_calling for endpoints without json_schema
      max_output_attempts: 3         # re-asks when the model's output is invalid
      prices:                        # USD per 1M tokens; `default` prices unknown models
        gpt-4o-mini: {input: 0.15, output: 0.60}
    planner: auto                    # offline | llm | auto

Environment: ``WARDEN_LLM_MODEL``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
``WARDEN_LLM_TIMEOUT_S``, ``WARDEN_LLM_MAX_RETRIES``, ``WARDEN_LLM_BACKOFF_S``,
``WARDEN_LLM_MAX_OUTPUT_TOKENS``, ``WARDEN_PLANNER``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator

from warden.errors import UsageError
from warden.llm.pricing import Price, PriceTable
from warden.schemas._base import StrictModel

__all__ = [
    "CONFIG_ENV",
    "ENV_FIELDS",
    "MODEL_ENV",
    "LlmSettings",
    "PlannerMode",
    "StructuredMethod",
    "config_path",
    "load_settings",
]

MODEL_ENV = "WARDEN_LLM_MODEL"
CONFIG_ENV = "WARDEN_CONFIG"

PlannerMode = Literal["offline", "llm", "auto"]
"""How ``policy_to_runbook`` plans.

- ``offline``: the deterministic rules planner; no model, no network.
- ``llm``: the configured model plans; a failure fails the run (``planner: offline`` is the way out).
- ``auto``: ``llm`` when a model is configured and the tenant may use it, else ``offline``.
"""

StructuredMethod = Literal["json_schema", "function_calling"]
"""How structured output is requested.

- ``json_schema``: ``response_format`` with a JSON Schema (OpenAI structured outputs, vLLM, Ollama).
- ``function_calling``: one forced tool call whose arguments are the object; the fallback when an
  endpoint rejects ``json_schema``.
"""

ENV_FIELDS: dict[str, str] = {
    MODEL_ENV: "model",
    "OPENAI_API_KEY": "api_key",
    "OPENAI_BASE_URL": "base_url",
    "WARDEN_LLM_TIMEOUT_S": "timeout_s",
    "WARDEN_LLM_MAX_RETRIES": "max_retries",
    "WARDEN_LLM_BACKOFF_S": "backoff_s",
    "WARDEN_LLM_MAX_OUTPUT_TOKENS": "max_output_tokens",
    "WARDEN_PLANNER": "planner",
}
"""Environment variable -> setting; each wins over the config file."""


class LlmSettings(StrictModel):
    """One process's model configuration. ``model=None`` means offline."""

    model: str | None = Field(default=None, min_length=1)
    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0, le=60)
    max_backoff_s: float = Field(default=30.0, ge=0, le=600)
    max_output_tokens: int = Field(default=4096, ge=1, le=200_000)
    temperature: float = Field(default=0.0, ge=0, le=2)
    structured_output: StructuredMethod = "json_schema"
    max_output_attempts: int = Field(default=3, ge=1, le=10)
    prices: dict[str, Price] = Field(default_factory=dict)
    planner: PlannerMode = "auto"
    source: str = Field(default="defaults", description="Where the settings were read from.")

    @field_validator("base_url")
    @classmethod
    def _base_url_is_an_http_url(cls, value: str | None) -> str | None:
        """Checked on load: a malformed URL ('http://[::1', port 99999, a control character)
        crashed `warden doctor` in the HTTP client and `warden analyse` in the audit record."""
        if value is None:
            return None
        from urllib.parse import urlsplit

        if any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError("a URL cannot contain spaces or control characters")
        parts = urlsplit(value)  # ValueError for unbalanced IPv6 brackets
        parts.port  # noqa: B018 - ValueError for a port out of range
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "expected an http:// or https:// URL with a host, e.g. http://localhost:11434/v1"
            )
        return value

    def model_post_init(self, context: Any, /) -> None:
        """Register the key and the URL's password as secrets (:func:`warden.credentials.register_secret`):
        a model that echoes them bare, without ``api_key:`` or ``user:...@`` around them, must
        still find them masked in every record. Every settings object registers, however built
        (file, environment, a test); the URL's username is not a secret and stays readable."""
        from urllib.parse import unquote

        from warden.credentials import register_secret, url_password

        if self.api_key is not None:
            register_secret(self.api_key.get_secret_value())
        password = url_password(self.base_url)
        if password:
            register_secret(password)
            register_secret(unquote(password))

    @property
    def mode(self) -> Literal["offline", "llm"]:
        return "llm" if self.model else "offline"

    def price_table(self) -> PriceTable:
        return PriceTable(self.prices)

    def redacted_key(self) -> str | None:
        """The key as `sk-…abcd`: enough to tell keys apart, never enough to use one."""
        if self.api_key is None:
            return None
        raw = self.api_key.get_secret_value()
        return f"{raw[:3]}…{raw[-4:]}" if len(raw) > 12 else "…(set)"


def config_path(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """--config, else $WARDEN_CONFIG, else $WARDEN_HOME/config.yaml if it exists."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    home = Path(env.get("WARDEN_HOME") or ".warden")
    candidate = home / "config.yaml"
    return candidate if candidate.is_file() else None


def _read_file(path: Path) -> dict[str, Any]:
    from warden.safeload import parse_text, read_text

    if not path.is_file():
        raise UsageError(f"config file {path} does not exist", fix="check --config / $WARDEN_CONFIG")
    data = parse_text(read_text(path), source=str(path)).data
    if data is None:
        return {}
    if (
        not isinstance(data, dict)
        or not set(data) <= {"llm", "planner"}
        or not isinstance(data.get("llm") or {}, dict)
    ):
        raise UsageError(
            f"{path}: a config file is a mapping with the keys 'llm' (a mapping) and 'planner'",
            fix="see 'LLM mode' in README.md for the shape",
            code="bad_config",
        )
    flat = dict(data.get("llm") or {})
    if "planner" in data:
        flat["planner"] = data["planner"]
    return flat


def load_settings(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> LlmSettings:
    """Settings from the config file, overridden field by field by the environment."""
    env = os.environ if env is None else env
    path = config_path(explicit, env)
    values: dict[str, Any] = _read_file(path) if path else {}
    sources = [str(path)] if path else []
    from_env = {field: env[var].strip() for var, field in ENV_FIELDS.items() if env.get(var, "").strip()}
    values.update(from_env)
    if from_env:
        sources.append("environment")
    values["source"] = " + ".join(sources) or "defaults"
    try:
        return LlmSettings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        env_var = next((v for v, f in ENV_FIELDS.items() if f == where), None)
        raise UsageError(
            f"invalid LLM setting '{where}': {err['msg']}",
            fix=f"fix ${env_var} or the config file" if env_var else "fix the config file",
            code="bad_config",
        ) from None
