"""reko on AWS: the S3, DynamoDB, SQS and MediaConvert backends and the Lambda handlers.

Everything here is optional (``pip install 'reko[aws]'``) and imported lazily; the local,
embedded reko never imports it. See ``docs/aws.md`` for the data flow.
"""
