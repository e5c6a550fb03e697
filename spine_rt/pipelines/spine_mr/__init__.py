"""spine_rt.pipelines.spine_mr: the spine MR (SSHSNet) pipeline: preprocessing, the pipeline object, its result."""
