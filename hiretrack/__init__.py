"""HireTrack: nobody waiting on an offer is left without word."""

from typing import Any

from flask import Flask

from hiretrack.config import load_config
from hiretrack.resources import resource_dir


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, error handlers and CLI commands."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
    )
    load_config(app, config)

    # The factory is the one place that imports every part: importing it at the top would load
    # the whole app (every blueprint) for a script that only needs, say, the models.
    from hiretrack.app_setup import (
        register_blueprints,
        register_commands,
        register_errorhandlers,
        register_extensions,
        register_request_hooks,
    )

    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    register_commands(app)
    return app
