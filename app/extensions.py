"""Extensions, created unbound; :func:`app.create_app` wires them to an app."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from models import Base

from .problems import ProblemApi
from .replica import Session

db = SQLAlchemy(metadata=Base.metadata, session_options={"class_": Session})
migrate = Migrate()
babel = Babel()
login_manager = LoginManager()
csrf = CSRFProtect()
api = ProblemApi()
