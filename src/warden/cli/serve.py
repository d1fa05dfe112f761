"""`warden serve`: the server (API, sign-in pages, background workers) over the state directory."""

from __future__ import annotations

from pathlib import Path

import typer

from warden.cli._output import err_console, friendly_errors, plain


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8321, "--port"),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Must be the policy in force (default: $WARDEN_POLICY)."
    ),
    workers: int = typer.Option(2, "--workers", min=1, max=16, help="Background threads running analyses."),
    engine: str | None = typer.Option(
        None, "--engine", help="embedded (default) or temporal (default: $WARDEN_ENGINE)."
    ),
    secure_cookies: bool = typer.Option(
        False, "--secure-cookies", help="Mark cookies Secure: set when browsers reach Warden over HTTPS."
    ),
    orphan_grace: float = typer.Option(
        10.0,
        "--orphan-grace",
        min=0.0,
        help="At start-up, resume runs a stopped server left running once unchanged this many seconds.",
    ),
    resume_orphans: bool = typer.Option(
        True, "--resume-orphans/--no-resume-orphans", help="Resume at start-up what a stopped server left."
    ),
    trusted_proxy: list[str] | None = typer.Option(
        None,
        "--trusted-proxy",
        help="A reverse proxy's address or network (repeatable): X-Forwarded-For is honoured from "
        "these peers only, so sign-in failures count by the real client "
        "(default: $WARDEN_TRUSTED_PROXIES, comma-separated; none: the headers are ignored).",
    ),
) -> None:
    """Serve the JSON API (/api, /openapi.json), sign-in pages and /healthz; analyses and decisions
    run in background workers on the state directory ($WARDEN_HOME), which the CLI may share."""
    import os

    import uvicorn

    if engine is not None:  # the service reads it (and `warden worker` processes share it)
        os.environ["WARDEN_ENGINE"] = engine

    from warden.cli._runtime import home_dir, presented_policy
    from warden.server import create_app
    from warden.server.identity import TRUSTED_PROXIES_ENV, proxy_options

    proxies = proxy_options(trusted_proxy or [os.environ.get(TRUSTED_PROXIES_ENV, "")])

    app = create_app(
        home_dir(),
        policy=presented_policy(policy),
        secure_cookies=secure_cookies,
        workers=workers,
        orphan_grace_s=orphan_grace if resume_orphans else None,
    )
    if host not in ("127.0.0.1", "localhost", "::1") and not secure_cookies:
        err_console.print(
            "[yellow]warning[/]: listening beyond loopback without --secure-cookies; put Warden behind "
            "TLS and pass --secure-cookies",
            markup=True,
        )
    err_console.print(plain(f"warden serving {home_dir()} on http://{host}:{port}"))
    if proxies["proxy_headers"]:
        err_console.print(plain(f"trusting X-Forwarded-For from {', '.join(proxies['forwarded_allow_ips'])}"))
    uvicorn.run(app, host=host, port=port, log_level="info", **proxies)
