import os

from django.core.wsgi import get_wsgi_application

from portal.database import limit_statement_time_of_requests

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()
limit_statement_time_of_requests()  # before the first request opens a connection

# Usage is written by a timer thread of the serving process, never by a request. Started here for
# any WSGI server (runserver too); under gunicorn, post_worker_init starts it again in each worker
# (a no-op when it runs, needed if the app were preloaded in the master: threads do not survive
# fork). Imported once the apps are loaded: the usage buffer imports the models.
from keys.metering import flusher  # noqa: E402

flusher.start()
