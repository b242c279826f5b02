"""``make demo``: the whole pipeline on embedded real faces with self-blended fakes (``python -m src.demo``)."""
