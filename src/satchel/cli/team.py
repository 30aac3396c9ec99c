"""Team-mode commands: ``server``, ``token``, ``login``, ``logout``, ``whoami``."""

from __future__ import annotations

import datetime
import logging
import os

import click

from satchel.cli.main import cli, emit, output_options


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: every interface).")
@click.option("--port", default=8383, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--data", type=click.Path(), help="Server folder: admin token, SQLite catalog and storage by default "
                                                "(default: $SATCHEL_HOME/server).")
@click.option("--database", help="Catalog database: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB "
                                 "(default: SQLite in --data).")
@click.option("--storage",
              help="Where content is kept: a folder, s3://, gs://, azure:// (default: a folder in --data).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256), help="Worker processes.")
@click.option("--max-object-size", default="64GiB", show_default=True,
              help="Largest object (pack) the file server accepts; bigger uploads get HTTP 413.")
@click.option("--preview-cache", default="4GiB", show_default=True,
              help="Disk the web UI's verified file copies may use (in DATA/cache/content); files over a quarter "
                   "of it are downloaded whole, streamed, without previews.")
def server(host: str, port: int, data: str | None, database: str | None, storage: str | None, workers: int,
           max_object_size: str, preview_cache: str) -> None:
    """Run the satchel server: catalog API, file server and tokens (needs `pip install 'satchel[server]'`).

    On first start it creates an admin token in DATA/admin-token (mode 0600). Several servers may share one
    PostgreSQL database and one object store (see docs/server.md).

    \b
    Example:
      satchel server --data /srv/satchel --database postgresql://satchel:PW@db/satchel --storage s3://bucket/satchel
    """
    from satchel.config import resolve_settings
    from satchel.errors import MissingExtraError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(f"the server needs {exc.name}: pip install 'satchel[server]'", extra="server") from exc
    from satchel.server.main import run
    from satchel.server.state import ServerConfig

    settings = resolve_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig.build(data or settings.home / "server", database, storage, max_object_size,
                                {k: v for k, v in settings.storage_options.items() if not k.startswith("api_")},
                                preview_cache)
    run(config, host=host, port=port, workers=workers)


@cli.command()
@click.option("--port", default=8384, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (the next free one when taken; 0: any free port).")
def ui(port: int) -> None:
    """Browse this machine's datasets in a web browser (the embedded home; needs `pip install 'satchel[server]'`).

    Serves the same pages as `satchel server` on 127.0.0.1 only, and prints a link that logs a browser in once.
    The session's token lives in memory and ends when this command stops (Ctrl-C). In team mode the server
    serves these pages itself: open its URL instead.

    \b
    Example:
      satchel ui --port 8384
    """
    import sys

    from satchel.config import resolve_settings
    from satchel.errors import ConfigError, MissingExtraError

    try:
        import fastapi  # noqa: F401
        import jinja2  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(f"the web UI needs {exc.name}: pip install 'satchel[server]'", extra="server") from exc
    from satchel.server.main import bind, run_personal
    from satchel.server.state import ServerConfig
    from satchel.storage import normalize_url

    settings = resolve_settings()
    if settings.api_url:
        raise ConfigError(f"this home is in team mode: the server at {settings.api_url} serves the web UI at "
                          f"{settings.api_url.rstrip('/')}/ (log in there with your token); `satchel logout` to "
                          "browse the embedded home instead")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(data_dir=str(settings.home / "ui"), database_url=settings.catalog_url,
                          storage_url=normalize_url(settings.default_storage), personal=True,
                          storage_options={k: v for k, v in settings.storage_options.items()
                                           if not k.startswith("api_")})
    sock = bind("127.0.0.1", port, tries=20 if port else 1)

    def announce(url: str) -> None:
        click.echo(f"satchel ui: open {url}\n(the link logs in once; Ctrl-C stops the UI)")
        sys.stdout.flush()

    run_personal(config, sock, announce)


@cli.group()
def token() -> None:
    """Create, list and revoke the server's tokens (needs an admin token).

    \b
    Example:
      satchel token create --name ci --role reader --project vision --expires 30d
      satchel token list
      satchel token revoke 3f2a9c1d0b4e5f60
    """


@token.command("create")
@click.option("--name", required=True, help="What the token is for (shown in `satchel token list`).")
@click.option("--role", required=True, type=click.Choice(["reader", "writer", "admin"]),
              help="reader: get, list, download; writer: also create and change datasets; admin: also tokens and gc.")
@click.option("--project", "projects", multiple=True, help="Limit to this project and its sub-projects (repeat).")
@click.option("--expires", help="Expire after this long: 30d, 12h, 15m (default: never).")
@output_options
def token_create(name: str, role: str, projects: tuple[str, ...], expires: str | None, as_json: bool,
                 quiet: bool) -> None:
    """Create a token and print it (it is shown this once).

    \b
    Example:
      satchel token create --name ci --role reader --project vision --expires 30d
    """
    from satchel import team

    made = team.create_token(name, role, list(projects), expires)
    scope = f", projects {', '.join(made['projects'])}" if made["projects"] else ""
    human = made["token"] if quiet else [f"token {made['id']} ({made['role']}{scope})", made["token"],
                                         "store it now: it is not shown again"]
    emit(made, human, as_json=as_json, quiet=False)


@token.command("list")
@output_options
def token_list(as_json: bool, quiet: bool) -> None:
    """List tokens (never their secrets).

    \b
    Example:
      satchel token list --json
    """
    from satchel import team

    tokens = team.list_tokens()
    lines = [f"{t['id']:<18} {t['role']:<7} {'active' if t['active'] else 'revoked/expired':<16} {t['name']}"
             + (f"  projects: {', '.join(t['projects'])}" if t["projects"] else "")
             + (f"  expires {_when(t['expires_at'])}" if t["expires_at"] else "") for t in tokens]
    emit(tokens, lines or ["no tokens"], as_json=as_json, quiet=quiet)


@token.command("revoke")
@click.argument("token_id")
@output_options
def token_revoke(token_id: str, as_json: bool, quiet: bool) -> None:
    """Revoke a token by id; it stops working at once.

    \b
    Example:
      satchel token revoke 3f2a9c1d0b4e5f60
    """
    from satchel import team

    info = team.revoke_token(token_id)
    emit(info, f"revoked token {info['id']} ({info['name']})", as_json=as_json, quiet=quiet)


@cli.command()
@click.argument("url")
@click.option("--token", "token_text", help="The token (default: asked for, or SATCHEL_API_TOKEN).")
@output_options
def login(url: str, token_text: str | None, as_json: bool, quiet: bool) -> None:
    """Use the satchel server at URL from now on: checks the token, then stores URL and token in
    $SATCHEL_HOME/config.toml (mode 0600).

    \b
    Example:
      satchel login http://satchel.example.com:8383 --token sat_...
    """
    from satchel import team

    token_text = token_text or os.environ.get("SATCHEL_API_TOKEN") or click.prompt("token", hide_input=True)
    me = team.login(url, token_text)
    emit(me, f"logged in to {me['url']} as token {me['id']} ({me['role']})", as_json=as_json, quiet=quiet)


@cli.command()
@output_options
def logout(as_json: bool, quiet: bool) -> None:
    """Forget the server URL and token stored by `satchel login` (back to embedded mode).

    \b
    Example:
      satchel logout
    """
    from satchel import team

    had = team.logout()
    emit({"logged_out": had}, "logged out" if had else "was not logged in", as_json=as_json, quiet=quiet)


@cli.command()
@output_options
def whoami(as_json: bool, quiet: bool) -> None:
    """Show the server in use and the token's name, role and projects.

    \b
    Example:
      satchel whoami --json
    """
    from satchel import team

    me = team.whoami()
    projects = ", ".join(me["projects"]) or "all projects"
    emit(me, f"{me['url']}: token {me['id']} ({me['name']}), role {me['role']}, {projects}"
         + (f", expires {_when(me['expires_at'])}" if me.get("expires_at") else ""), as_json=as_json, quiet=quiet)


def _when(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@cli.command()
@click.option("--id", "dataset_id", help="Version to push (default: the current one).")
@click.option("--to", "url", help="Server to push to (default: the configured one; the source is then this "
                                  "machine's embedded catalog).")
@click.option("--token", "token_text", help="Token for --to (default: the configured token).")
@output_options
def push(dataset_id: str | None, url: str | None, token_text: str | None, as_json: bool, quiet: bool) -> None:
    """Copy a version and the ancestors the target lacks to another catalog (embedded to server, server to
    server), with the same ids; only the content the target lacks is uploaded.

    \b
    Example:
      satchel push --id 3f2a9c1d                       # this machine's version to the logged-in server
      satchel push --id 3f2a9c1d --to https://other.example.com --token sat_...
    """
    from satchel import team
    from satchel.cli.main import current_id

    done = team.push(current_id(dataset_id), to=url, token=token_text)  # a short id is resolved in the source
    emit(done, f"pushed {len(done['pushed'])} version(s), {len(done['present'])} already there",
         as_json=as_json, quiet=quiet)
