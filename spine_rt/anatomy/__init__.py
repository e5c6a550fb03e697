"""spine_rt.anatomy: the domain facts that the run path, training and phantoms share.

One module per idea, numpy only (no torch, no scipy):

* :mod:`~spine_rt.anatomy.levels` - level names and their order along the
  spine (``S``, ``L5`` .. ``L1``, ``T12`` ..), vertebra/disc alternation;
* :mod:`~spine_rt.anatomy.label_tables` - the label tables of the served
  tasks (MRSpineSeg's 19 structures, the 5 X-ray classes) and which level
  carries which MRSpineSeg label;
* :mod:`~spine_rt.anatomy.label_maps` - the ``{id: name}`` label-map format:
  parsing a ``labels.json``, checking label arrays, matching by name;
* :mod:`~spine_rt.anatomy.endplates` - endplates as line segments, their
  tilt and the angle between two;
* :mod:`~spine_rt.anatomy.lumbar_parameters` - the 18 lumbar/pelvic
  inspection values from endplates and the hip axis (definitions and signs);
* :mod:`~spine_rt.anatomy.xray_values` - MBNet's order of those 18 values
  and their min-max scaling.

The run path (pipelines, measure, export, ...) imports these, never
:mod:`spine_rt.train` or :mod:`spine_rt.phantoms`
(``tests/test_import_layers.py`` checks it).
"""
