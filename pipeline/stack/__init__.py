"""reko's AWS pipeline on one machine, over real HTTP (``reko stack``, ``reko serve-rekognition``).

* :mod:`.wire` — the AWS JSON 1.1 and REST-JSON protocols, server side, from botocore's models;
* :mod:`.rekognition_server` — a Rekognition-compatible endpoint for the local engine;
* :mod:`.mediaconvert_server` — a local MediaConvert (CreateJob/GetJob/ListJobs) over ffmpeg;
* :mod:`.template` — ``infra/template.yaml`` read as the one description of the stack;
* :mod:`.lambda_runtime` — event source mappings, asynchronous invocation and the HTTP API in
  front of the Lambda handlers;
* :mod:`.component` — the stack's processes; :mod:`.control` — ``up``/``down``/``status``.

Nothing here creates a client or starts a process at import time.
"""
