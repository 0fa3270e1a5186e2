"""Cluster preflight: every node and rank of a distributed job in one report.

``torchrun ... -m llmdoctor.cluster`` (or srun/mpirun/PyTorchJob) runs ``runner``: each node is probed
once (local rank 0), every rank adds its own facts, all of it gathers to rank 0 over a gloo group, and
rank 0 runs the per-node checks and the cross-node ``cluster.*`` checks and prints one report.
``llmdoctor cluster --from DIR`` aggregates node snapshots collected any other way; it never imports torch.

Modules: ``model`` (the data), ``launch`` (launcher variables), ``checks`` (cross-node checks and their
registry), ``aggregate`` (the Report), ``bandwidth`` / ``stragglers`` (math, and measurement inside the
runner), ``drain`` (scheduler scripts), ``main`` (options), ``runner`` (torch.distributed; the only module
that imports torch).
"""
