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
        help="A reverse proxy's address or network (repeatable): its forwarding header is honoured "
        "from these peers only, so sign-in failures count by the real client "
        "(default: $WARDEN_TRUSTED_PROXIES, comma-separated; none: the headers are ignored).",
    ),
    proxy_header: str | None = typer.Option(
        None,
        "--proxy-header",
        help="The header the trusted proxies set, the only one read: x-forwarded-for (with "
        "X-Forwarded-Proto) or forwarded (RFC 7239) (default: $WARDEN_PROXY_HEADER, else x-forwarded-for).",
    ),
    sign_in_failures: str | None = typer.Option(
        None,
        "--sign-in-failures",
        help="Failed sign-ins of one user from one client per window "
        "(default: $WARDEN_SIGN_IN_FAILURES, else 5).",
    ),
    sign_in_ceiling: str | None = typer.Option(
        None,
        "--sign-in-ceiling",
        help="Failed sign-ins of one user from all clients per window, beyond which only clients that "
        "signed in as the user before may try (default: $WARDEN_SIGN_IN_CEILING, else 50).",
    ),
    sign_in_window: str | None = typer.Option(
        None,
        "--sign-in-window",
        help="The window those failures count in, e.g. 15m, 1h (default: $WARDEN_SIGN_IN_WINDOW, else 15m).",
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
    from warden.server.listening import display_url, dual_stack, is_every_ipv6_address
    from warden.server.proxies import PROXY_HEADER_ENV, TrustedProxies
    from warden.service.accounts import SignInLimits

    trusted = TrustedProxies(trusted_proxy or [os.environ.get(TRUSTED_PROXIES_ENV, "")])
    header = proxy_header or os.environ.get(PROXY_HEADER_ENV) or None
    limits = SignInLimits.parse(
        sign_in_failures or os.environ.get("WARDEN_SIGN_IN_FAILURES") or None,
        sign_in_ceiling or os.environ.get("WARDEN_SIGN_IN_CEILING") or None,
        sign_in_window or os.environ.get("WARDEN_SIGN_IN_WINDOW") or None,
    )

    app = create_app(
        home_dir(),
        policy=presented_policy(policy),
        secure_cookies=secure_cookies,
        workers=workers,
        orphan_grace_s=orphan_grace if resume_orphans else None,
        trusted_proxies=[str(n) for n in trusted.networks],
        proxy_header=header or "x-forwarded-for",
        sign_in_limits=limits,
    )
    if host not in ("127.0.0.1", "localhost", "::1") and not secure_cookies:
        err_console.print(
            "[yellow]warning[/]: listening beyond loopback without --secure-cookies; put Warden behind "
            "TLS and pass --secure-cookies",
            markup=True,
        )
    every = " (every IPv6 and IPv4 address)" if is_every_ipv6_address(host) else ""
    err_console.print(plain(f"warden serving {home_dir()} on {display_url(host, port)}{every}"))
    if trusted:
        settings = app.state.settings
        err_console.print(plain(f"trusting {settings.proxy_header} from {trusted}"))
    options = proxy_options([])  # the app reads the proxies' header itself (create_app above)
    if not every:
        uvicorn.run(app, host=host, port=port, log_level="info", **options)
        return
    try:  # asyncio would bind `::` IPv6-only: an IPv4 proxy could not reach the server
        sock = dual_stack(host, port)
    except OSError as exc:
        err_console.print(plain(f"error: cannot listen on {display_url(host, port)}: {exc}"))
        raise typer.Exit(3) from None
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info", **options))
    server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(3)
