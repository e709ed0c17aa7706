"""Analysis engines behind one interface: boto3's Rekognition client.

``local`` is reko's offline, Rekognition-compatible engine; ``rekognition`` is boto3's client.
Ingest only calls client methods (``detect_text`` …), so either can be used unchanged.
"""
