import os

from django.core.wsgi import get_wsgi_application

from portal.database import limit_statement_time_of_requests

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()
limit_statement_time_of_requests()  # before the first request opens a connection
