from . import blp


@blp.route("/")
def index():
    return "Jifen"
