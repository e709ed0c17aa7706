"""The static search site: plain HTML, CSS and JavaScript served by ``reko.webapp`` (and deployable
to any static host such as S3/CloudFront). Read the files with ``importlib.resources.files(__name__)``."""
