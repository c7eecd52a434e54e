"""The compliance service: detectors, policy engine, pipeline, storage, jobs, API, CLI.

Numerical libraries run on one thread in our processes unless told otherwise: a scan
or an ingest is one file at a time per process (the service scales by worker
processes), and the BLAS and OpenMP thread pools that numpy and faiss start for the
small matrix products of the cover detector spun on the second core without speeding
anything up (harness, development corpus: 25-37 % more CPU time than wall time, against
none before those products; faiss's threads made a 1,000-vector search take 27 ms
instead of 1). Set ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` to override; they
are read when numpy and faiss are first imported.
"""

import os as _os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
