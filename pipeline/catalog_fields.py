"""The description of every field of a catalog file (reproduce/*.yaml), by model and field name.

``pipeline.catalog`` attaches them to its pydantic models, so ``repro schema`` (reproduce/schema.json)
and editors show them; a field without a description fails tests/test_catalog_schema.py. Units,
0- or 1-based counting and defaults are stated here; reproduce/README.md is the guide.
"""

FIELDS: dict[str, dict[str, str]] = {
    "Schedule": {
        "kind": "multistep: ×gamma at each milestone; plateau: ×gamma when the validation accuracy has not "
        "improved for `patience` epochs (needs a validation split); constant: no decay. Default multistep.",
        "unit": "What milestones count: epoch or iteration (optimiser steps). Default epoch.",
        "milestones": "0-based epochs (or iterations, per `unit`): milestone m means 'from epoch m on' the rate "
        "is ×gamma; a milestone listed twice multiplies twice. Default none.",
        "gamma": "Factor applied at each milestone or plateau. Default 0.1.",
        "patience": "plateau only: epochs without improvement before the rate is cut. Default 5.",
        "min_lr": "plateau only: the rate is never cut below this. Default 0.",
        "warmup_iterations": "Linear warm-up over the first N optimiser steps: lr·k/N before step k (1-based). "
        "Default 0 (none).",
        "inverse_time_decay": "Keras SGD(decay=d): lr / (1 + d·step) on top of any kind, step = optimiser steps "
        "so far. Default 0 (none).",
    },
    "Augmentation": {
        "crop_padding": "Zero-pad this many pixels per side, then crop back at a random offset. Default 0 (off).",
        "hflip": "Random horizontal flip with p = 0.5. Default false.",
        "rotation": "Random rotation in [-deg, +deg], degrees. Default 0 (off).",
        "shift": "Keras width/height shift range, as a fraction of the image size. Default 0 (off).",
        "zoom": "Keras zoom range: scale drawn in [1 - zoom, 1 + zoom]. Default 0 (off).",
        "fill": "What rotation/shift/zoom fill with: zeros (torchvision) or nearest (Keras, edge repeated). "
        "Default zeros.",
        "interpolation": "nearest (torchvision RandomRotation) or bilinear (Keras, order-1). Default nearest.",
        "center_offset": "Rotation/zoom centre in pixels past the true centre (n-1)/2 on both axes; Keras <= 2.2 "
        "(TF 1.x) used n/2 + 0.5, i.e. 1.0. Default 0.",
    },
    "Normalization": {
        "kind": "per_pixel_mean: subtract the training mean image; per_channel: per-channel mean/std; constants: "
        "a named constant set (pipeline/data/loader.py); none: pixels in [0, 1]. Default none.",
        "constants": "Name of the constant set for kind constants (e.g. zam-cifar100). Default none.",
        "fit": "per_channel: fit on the training split (train) or on every split separately (each_split, a Keras "
        "quirk). Default train.",
        "scale": "Multiply the normalised pixels by this (255: a raw 0-255 pixel scale). Default 1.",
    },
    "Validation": {
        "kind": "none; last: the last `size` training images; fraction: the last `fraction` of them (Keras "
        "validation_split); keras-subset: the first `fraction` (ImageDataGenerator subsets); random: a seeded "
        "stratified sample of `size`; leaked: train on the first `train_size`, validate on the last `size` of "
        "those same images. The official test set is always held out. Default none.",
        "size": "Number of validation images (last, random, leaked). Default none.",
        "fraction": "Share of the training set, 0 < f < 1 (fraction, keras-subset). Default none.",
        "train_size": "leaked only: train on the first this-many training images. Default none.",
    },
    "EarlyStopping": {
        "monitor": "val_acc or val_loss, checked after every epoch. Default val_acc.",
        "patience": "Stop after this many epochs without improvement. Default 10.",
    },
    "Recipe": {
        "optimizer": "sgd or adam. Default sgd.",
        "nesterov": "SGD with Nesterov momentum. Default false.",
        "lr": "Initial learning rate (before warm-up and schedule). Default 0.1.",
        "momentum": "SGD momentum, 0 <= m < 1. Default 0.9.",
        "weight_decay": "L2 weight decay coefficient (Keras l2(λ) is 2λ here). Default 0.",
        "weight_decay_scope": "all parameters, or classifier_weight (Keras L2 on the Dense kernel only). Default all.",
        "adam_epsilon": "Adam ε (torch 1e-8; Keras 1e-7). Default 1e-8.",
        "batch_size": "Images per optimiser step. Default 128.",
        "drop_last": "Drop the partial last batch of an epoch (Keras fit: floor(n / batch) steps). Default false.",
        "iterations": "Stop after this many optimiser steps. Exactly one of iterations or epochs.",
        "epochs": "Train this many epochs (the maximum when early stopping is on). Exactly one of iterations "
        "or epochs.",
        "schedule": "Learning-rate schedule; nested keys merge with the source's default recipe.",
        "augment": "Training augmentation, applied in field order.",
        "normalize": "Input normalisation.",
        "validation": "Validation split carved out of the training set.",
        "early_stopping": "Stop when the monitored validation figure stops improving; needs a validation split. "
        "Default none.",
        "label_noise": "Symmetric label noise level 1 - r on the training labels, 0 <= x < 1. Default 0.",
        "best_window": "[first, last] epochs, 1-based and inclusive, over which best_window_test_acc takes the "
        "best test accuracy. Default none (metric not computed).",
    },
    "Margin": {
        "points": "±δ in the figure's unit (percentage points for %). Exactly one of points or relative.",
        "relative": "±δ as a fraction of the reported value (0.1 = ±10%). Exactly one of points or relative.",
        "reason": "Why this margin (required).",
    },
    "Reported": {
        "metric": "Key in the run's metrics (eval.json and train.json), e.g. top1_error, best_test_acc.",
        "value": "The figure as a number, or a string for a qualitative statement.",
        "unit": "%, s (seconds), count, MACs or - (unitless). Default %.",
        "meaning": "Exactly what the source's figure is: split, final or best-over-epochs, its run, how it "
        "maps to `metric`.",
        "table": "Key of the table (under `tables`) where the figure sits.",
        "row": "Row label of that table (one of its `rows`).",
        "column": "Column label of that table (one of its `columns`).",
        "over_runs": "How the source combined its runs: mean, or max (the best of its runs). Default mean.",
        "hardware": "Where the source measured the figure (e.g. 'Tesla T4 (GCP)'); set for times measured "
        "elsewhere, which are then compared only as ratios. Default none (comparable here).",
        "delta": "This figure's equivalence margin; default: the table's, else the source's, else the README "
        "Verdicts default.",
        "printed": "The figure as printed (e.g. '337 min', '2,878,186'). Default: the YAML scalar as written.",
    },
    "ReportedCurve": {
        "file": "Tab-separated curve file, relative to reproduce/ (header: epoch split metric value; epoch "
        "1-based). Format: reproduce/curves/README.md.",
        "meaning": "What the curve is and where it comes from (e.g. the author's log name).",
    },
    "Claim": {
        "text": "The source's claim in one sentence (quote it; say when it is derived, not stated).",
        "better": "Configuration expected to win. May be omitted only by a cited claim about networks not built here.",
        "worse": "Configuration(s) expected to lose: one name or a list (one test per arm). Omitted by cited "
        "claims and by cost claims with a `reference`.",
        "metric": "Metric compared (a run metric; for cost claims params, non_trainable_params or macs).",
        "higher_is_better": "Direction of `metric`. Default true.",
        "kind": "trained: Welch's t-test over seeds; cost: a count of the built models, no training. Default trained.",
        "cited": "Quoted without a verdict (e.g. needs ImageNet); then `why` is required. Default false.",
        "why": "Why a cited claim has no verdict, or how to read a cost claim's result.",
        "reference": "cost claims: the figure the source printed for an arm not built here.",
        "ratio": "cost claims: the stated ratio better / worse (or better / reference).",
        "ratio_tolerance": "cost claims: the ratio holds within ± this. Default 0.",
        "reported_effect": "trained claims: the source's advantage of better over worse in metric units (> 0 "
        "agrees); used for the seeds needed. Default: from both arms' reported figures of `metric`.",
    },
    "ConfigEntry": {
        "dataset": "Dataset name (cifar10, cifar100, tinyimagenet, ...; `repro list` shows them).",
        "model": "Registered model name (`repro models`).",
        "model_options": "Keyword options passed to the model builder. Default none.",
        "recipe": "Overrides of the source's default recipe; nested sections (schedule, augment, ...) merge "
        "by key, one level deep.",
        "runs": "Runs (seeds) the source reports over; we train this many seeds. Default 1.",
        "reported": "The figures the source printed for this configuration.",
        "notes": "Assumptions ([U]), interpretations ([I]) and quirks, shown under the rendered table.",
        "requires": "A resource the default pipeline lacks (e.g. imagenet): listed and counted, not run. Default none.",
        "reported_curves": "The source's per-epoch logs of this configuration. Default none.",
    },
    "CurveFigure": {
        "name": "File tag: paper_tables/figures/<source>-<name>-reported-vs-reproduced.png.",
        "title": "The source's figure caption.",
        "split": "test, val or train. Default test.",
        "metric": "accuracy (top-1 %) or loss. Default accuracy.",
        "epochs": "[first, last] epochs drawn, 1-based and inclusive. Default all.",
        "values": "[low, high] y range drawn (a zoom). Default automatic.",
        "notes": "E.g. how a zoom range was chosen.",
    },
    "Ratio": {
        "numerator": "Row whose reported cell is the numerator.",
        "denominator": "Row whose reported cell is the denominator.",
        "column": "Column of both cells.",
        "delta": "Margin on the ratio. Default ±10% relative.",
    },
    "Table": {
        "caption": "The source's caption.",
        "rows": "Row labels, in the source's order.",
        "columns": "Column labels, in the source's order.",
        "figure": "The figure this table gets: two-arm (one line per column across the rows; old name "
        "arl-vs-nal), sweep (the same over a swept setting in the rows; old name label-noise), strip "
        "(per-seed points), curves (the figures in curve_figures). Default none.",
        "x_label": "x-axis label of a two-arm or sweep figure. Default: 'row'.",
        "curve_figures": "figure: curves only: the source's curve figures to redraw.",
        "cited": "Printed cells that no configuration reproduces: {row: {column: value}}.",
        "printed": "Cited cells as printed (e.g. '224×224'). Default: the YAML scalar as written.",
        "delta": "Margin of every figure in this table (unless the figure declares one).",
        "ratios": "Ratios of two reported cells of one column, compared where the figures are not (other hardware).",
        "notes": "Shown under the rendered table.",
    },
    "Source": {
        "id": "Source id; must equal the file name without .yaml.",
        "title": "Title of the source document.",
        "citation": "Full citation.",
        "url": "Where the source is. Default empty.",
        "recipe": "The source's default recipe (every configuration starts from it).",
        "configurations": "Configurations keyed by a unique name (unique across the whole catalog).",
        "tables": "The source's tables keyed by a short key (used in file names).",
        "claims": "Comparisons the source makes between configurations.",
        "delta": "Margin of every figure of this source (unless a table or figure declares one).",
    },
}
