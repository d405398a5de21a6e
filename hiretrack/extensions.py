"""Bare extension objects, bound to an app in `create_app` so tests can build many apps."""

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from hiretrack.database import Base, HoldingSession

db = SQLAlchemy(model_class=Base, session_options={"class_": HoldingSession})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
