"""`warden serve`: the ASGI application, a second entry point beside the CLI.

It authenticates people (passwords, API tokens, session cookies), maps HTTP onto the service
layer and its errors onto status codes, and runs the graph in background worker threads. It
holds no tenancy or role logic: every route calls the service, which decides.
"""

from warden.server.app import ServerSettings, create_app

__all__ = ["ServerSettings", "create_app"]
