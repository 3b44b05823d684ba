"""`make bench`'s reference: a bare Django project, no app and no middleware, one JSON view.

It is the limit of this stack (gunicorn's sync workers, Django's request handling, URL resolving and
a JsonResponse), served with the same gunicorn settings as the portal, so that every row of the
benchmark can be read as a fraction of it. This one module is the settings, the URLconf and the WSGI
application: ``DJANGO_SETTINGS_MODULE=bare_django gunicorn --chdir scripts bare_django:application``.
"""

from django.core.wsgi import get_wsgi_application
from django.http import JsonResponse
from django.urls import path

DEBUG = False
SECRET_KEY = "bare-django-bench-" + "x" * 40  # signs nothing: no sessions, no cookies
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bare_django"
USE_TZ = True


def ok(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path("ok", ok)]

application = get_wsgi_application()
