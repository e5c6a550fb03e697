"""spine_rt.pipelines.xray: the lumbar X-ray (BiLuNet/MBNet) pipeline: preprocessing, the pipeline object, values, its result."""
