"""The ``dflearn`` command line: run the course, build student notebooks, check the environment."""

from __future__ import annotations

import argparse
import sys


def _cmd_run(args: argparse.Namespace) -> int:
    from dflearn.course.runner import notebook_table, run_course

    only = [s for s in args.only.split(",") if s] if args.only else None
    runs, out_dir = run_course(args.profile, args.data, only, args.out, args.timeout,
                               resume=args.resume)
    print("\nResults summary")
    print(notebook_table(runs).to_string())
    failed = [r for r in runs if r.status != "ok"]
    total = sum(r.seconds for r in runs)
    print(f"\n{len(runs) - len(failed)}/{len(runs)} notebooks ran in {total:.0f} s. Executed "
          f"notebooks, report.html, results.csv (every record) and kernels.log are in {out_dir}")
    for r in failed:
        print(f"FAILED {r.notebook} at cell {r.cell}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from dflearn.course.report import build_report

    html, markdown = build_report(args.run_dir)
    print(f"wrote {html} and {markdown}")
    return 0


def _cmd_site(args: argparse.Namespace) -> int:
    from dflearn.course.site import build_site

    index = build_site(args.run_dir, args.out)
    print(f"wrote the course site; open {index} in a browser (it needs no network)")
    return 0


def _cmd_build_student(args: argparse.Namespace) -> int:
    from dflearn.course.notebooks import build_student

    changed = build_student(args.src, args.dst, check=args.check)
    if args.check:
        for path in changed:
            print(f"out of date: {path}")
        print("student notebooks are up to date" if not changed else
              "run `dflearn build-student` to regenerate them")
        return 1 if changed else 0
    print(f"wrote {len(changed)} student notebook(s)" + "".join(f"\n  {p}" for p in changed))
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from dflearn.course.environment import environment_report

    print(environment_report(args.profile).to_string(index=False))
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from dflearn.course.grading import Limits, grade

    try:
        thresholds = {k: float(v) for k, v in (t.split("=", 1) for t in args.threshold)}
    except ValueError:
        print(f"dflearn: error: --threshold takes KEY=NUMBER, got {args.threshold}", file=sys.stderr)
        return 2
    limits = Limits(timeout=args.timeout, memory_mb=args.memory)
    book = grade(args.submissions, args.notebook, solution=args.solution, profile=args.profile,
                 workers=args.workers, out=args.out, thresholds=thresholds, limits=limits, dask=args.dask,
                 data=args.data, manual=args.manual, hidden_data=args.hidden_data,
                 artifacts=args.artifacts)
    counts = book.table["status"].value_counts().to_dict()
    print(f"\ngraded {len(book.table)} submissions ({counts}); gradebook.csv, details.csv, "
          f"report.html, feedback/ and executed/ are in {book.out_dir}")
    return 0


def _cmd_grade_merge(args: argparse.Namespace) -> int:
    from dflearn.course.grading import apply_manual_marks

    book = apply_manual_marks(args.out_dir, args.manual)
    print(f"merged the marks of {args.manual} into {book.out_dir} (gradebook.csv, details.csv, report.html, feedback/)")
    return 0


def _cmd_nbgrader_export(args: argparse.Namespace) -> int:
    from dflearn.course.notebooks import export_nbgrader

    written = export_nbgrader(args.course_dir, only=args.only.split(",") if args.only else None)
    print(f"wrote {len(written)} nbgrader source notebooks under {args.course_dir}/source; then run "
          "`nbgrader generate_assignment NN_topic` there")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dflearn`` command."""
    parser = argparse.ArgumentParser(prog="dflearn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the course notebooks (solutions/) with papermill")
    run.add_argument("--profile", help="ci, cpu, gpu or paper (default: $DFLEARN_PROFILE or cpu)")
    run.add_argument("--data", help="dataset folder in CIFAKE layout (default: the profile's choice)")
    run.add_argument("--only", help="comma-separated notebook ids, e.g. 03,05")
    run.add_argument("--out", help="fresh output folder (default: runs/<time>-<profile>)")
    run.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="continue a killed or failed run in RUN_DIR with its own settings")
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="write report.html and report.md of a run folder")
    report.add_argument("run_dir", help="a folder written by `dflearn run`")
    report.set_defaults(func=_cmd_report)

    site = sub.add_parser("site", help="build a static web site of a run's executed notebooks")
    site.add_argument("run_dir", help="a folder written by `dflearn run`")
    site.add_argument("--out", help="folder for the site (default: RUN_DIR/site)")
    site.set_defaults(func=_cmd_site)

    build = sub.add_parser("build-student", help="write notebooks/ from solutions/")
    build.add_argument("--src", help="solutions folder (default: solutions/)")
    build.add_argument("--dst", help="student folder (default: notebooks/)")
    build.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    build.set_defaults(func=_cmd_build_student)

    env = sub.add_parser("env", help="print versions, CPU/GPU and the dataset that will be used")
    env.add_argument("--profile")
    env.set_defaults(func=_cmd_env)

    grade = sub.add_parser("grade", help="run and score every student's copy of a notebook (sandboxed)")
    grade.add_argument("submissions", help="folder with one sub-folder per student; never modified")
    grade.add_argument("--notebook", required=True, help="notebook id, e.g. 03")
    grade.add_argument("--profile", help="profile the notebooks run under (default: $DFLEARN_PROFILE or cpu)")
    grade.add_argument("--workers", type=int, help="submissions run at once (default: number of cores)")
    grade.add_argument("--timeout", type=float, default=600.0, help="seconds per submission (default 600)")
    grade.add_argument("--data", help="dataset folder in CIFAKE layout for the notebooks (default: the profile's)")
    grade.add_argument("--hidden-data", metavar="DIR",
                       help="the hidden split of the open-ended tasks (test/REAL + test/FAKE, or REAL + FAKE), "
                            "images the students never had; without it those items are checked on the test split")
    grade.add_argument("--artifacts", metavar="DIR",
                       help="models earlier notebooks saved (a run's artifacts folder), copied into each "
                            "submission, so e.g. 04 is graded with 03's Personal CNN instead of a stand-in")
    grade.add_argument("--memory", type=int, default=6144, help="memory cap per kernel in MiB (default 6144)")
    grade.add_argument("--out", help="fresh output folder (default: runs/grade-NN-<time>)")
    grade.add_argument("--threshold", action="append", default=[], metavar="KEY=MIN",
                       help="headline record that earns a point when >= MIN (repeatable)")
    grade.add_argument("--solution", help="the instructor's solutions notebook (default: solutions/NN_*.ipynb)")
    grade.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler, e.g. tcp://host:8786")
    grade.add_argument("--manual", metavar="CSV", help="hand-given marks (student,item,points,comment) to merge")
    grade.set_defaults(func=_cmd_grade)

    merge = sub.add_parser("grade-merge", help="merge hand-given marks into a graded folder (written answers)")
    merge.add_argument("out_dir", help="a folder written by `dflearn grade`")
    merge.add_argument("--manual", required=True, metavar="CSV",
                       help="student,item,points[,comment]; start from the folder's manual_template.csv")
    merge.set_defaults(func=_cmd_grade_merge)

    nbgrader = sub.add_parser("nbgrader-export", help="write an nbgrader course folder (source/) from solutions/")
    nbgrader.add_argument("course_dir", help="the nbgrader course folder (created if needed)")
    nbgrader.add_argument("--only", help="comma-separated notebook ids, e.g. 03,05")
    nbgrader.set_defaults(func=_cmd_nbgrader_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dflearn`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"dflearn: error: {exc}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[Exception], ...]:
    """The errors a command reports as ``dflearn: error: ...`` with exit code 2 (bad input the
    message explains), imported only when a command has failed."""
    from dflearn.course.config import ProfileError
    from dflearn.course.grading import GradingError
    from dflearn.course.runner import OutputFolderError
    from dflearn.course.site import SiteError
    from dflearn.data import DatasetError

    return (ProfileError, DatasetError, OutputFolderError, GradingError, SiteError,
            FileNotFoundError)


if __name__ == "__main__":
    sys.exit(main())
