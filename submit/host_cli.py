"""Commands that talk to the hosts: predict, download, package, upload, and the scores behind `leaderboard --sync`.

    submit download wsdm                                   files into data/wsdm, checked
    submit predict wsdm --experiment default-1a2b3c4d5e --data data/wsdm --output sub.csv
    submit package wsdm --experiment default-1a2b3c4d5e    bundles/wsdm-default-1a2b3c4d5e/{dataset,kernel}
    submit upload wsdm -m "lgbm" --wait                    bundle -> dataset + notebook -> code submission
    submit upload hansol -m "knn" --team "my team"         Dacon's API, or the steps to do it by hand
    submit leaderboard wsdm --sync --plot cv_vs_lb.png      public scores beside CV, rank correlation
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from submit.app import CacheDir, RunsDir, app, console, out
from submit.kaggle_client import KaggleError, KaggleSession, find_credentials, require_client
from submit.kernel.plugins import get_competition

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from submit.cv.store import Store
    from submit.kernel.competition import Competition

# pandas, the pipeline, predict and packaging are imported in the commands that use them: `submit --help`
# imports this module.

Experiment = Annotated[str | None, typer.Option("--experiment", "-e", help="Experiment id (see `submit leaderboard`) "
                                                "or a folder holding one. Default: the best on the leaderboard.")]
Slug = Annotated[str | None, typer.Option(help="The competition's slug on Kaggle, if not the plugin's own.")]


def _session() -> KaggleSession:
    require_client()
    return KaggleSession(find_credentials(warn=lambda text: console.print(f"warning: {text}", style="yellow",
                                                                          markup=False)))


def _on_kaggle(competition: Competition, slug: str | None) -> bool:
    """Kaggle's, or set up by `submit init` from files laid out by hand (host local) and named on Kaggle by --slug."""
    return competition.host == "kaggle" or (competition.host == "local" and slug is not None)


def _kaggle_slug(competition: Competition, slug: str | None) -> str:
    if competition.host == "local" and not slug:
        raise KaggleError(f"{competition.name} was set up from files, not from Kaggle; pass --slug <the slug in its "
                          "URL> to send it to that Kaggle competition")
    if not _on_kaggle(competition, slug):
        raise KaggleError(f"{competition.name} is hosted on {competition.host}, not Kaggle"
                          + (f"; its page: {competition.url}" if competition.url else ""))
    if not (slug or competition.slug):
        raise KaggleError(f"{competition.name} names no Kaggle competition; pass --slug <the slug in its URL>")
    return slug or competition.slug


def _best_experiment(store: Store, competition: str) -> str:
    from submit.kernel.checks import DataError

    rows = store.leaderboard(competition)
    if not rows:
        raise DataError(store.path, f"no experiments for {competition}", expected=f"a run first: submit {competition}")
    return rows[0]["id"]


@app.command()
def predict(
    competition: Annotated[str, typer.Argument(help="A competition name.")],
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="Experiment id, or a folder holding one.")],
    data: Annotated[Path | None, typer.Option(help="Folder with the host's test files. Default: data/<competition> "
                                                    "if downloaded, else the bundled sample.")] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write the submission. Default: the experiment's "
                                                     "folder.")] = None,
    estimate: Annotated[bool, typer.Option(help="For a code competition, also estimate the host notebook's run "
                                                "time (a measure on 200 rows).")] = True,
    runs: RunsDir = Path("runs"),
    cache: CacheDir = None,
) -> None:
    """Predict test rows with an experiment's saved fold models and write a validated submission.

    \b
    Example:
      submit predict wsdm -e default-1a2b --data data/wsdm --output sub.csv
      (-e takes an id, a unique start of one, or a folder; --data needs only the test files)
    """
    from submit.predict import experiment_dir, predict_submission

    path = predict_submission(competition, experiment, data=data, output=output, runs_dir=runs, cache_dir=cache)
    out.print(f"Submission written and validated: [bold]{path}[/]")
    if estimate:
        _print_notebook_estimate(get_competition(competition), experiment_dir(competition, experiment, runs), data)


def _print_notebook_estimate(competition: Competition, folder: Path, data: Path | None) -> None:
    """A code competition's notebook run time on the host, from a measure here; a warning above its limit."""
    from submit.budget import notebook_estimate
    from submit.pipeline import resolve_data_dir

    if not competition.code_competition:
        return
    data_dir, source = resolve_data_dir(competition, data)
    where = str(data_dir) + (" (the bundled synthetic sample: pass --data with the host's files for a real "
                             "estimate)" if source == "bundled sample" else "")
    estimate = notebook_estimate(competition, folder, competition.load(data_dir), where)
    if estimate.over_limit:
        console.print(f"warning: the notebook would run past the host's limit: {estimate.message()}; predict fewer "
                      "folds or views, or a lighter recipe", style="yellow", markup=False)
    else:
        out.print(f"Notebook run time: {estimate.message()}", markup=False)


@app.command()
def download(
    competition: Annotated[str, typer.Argument(help="A Kaggle competition name (see `submit list`).")],
    to: Annotated[Path | None, typer.Option(help="Target folder. Default: data/<competition>.")] = None,
    slug: Slug = None,
) -> None:
    """Download the competition's files through the Kaggle API, unzip and check them.

    Needs Kaggle credentials (KAGGLE_API_TOKEN, KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json) and the
    competition's rules accepted on its page.

    \b
    Example:
      submit download wsdm
      submit wsdm
    """
    comp = get_competition(competition)
    kaggle_slug = _kaggle_slug(comp, slug)
    target = to or Path("data") / comp.name
    session = _session()
    console.print(f"Downloading {kaggle_slug} into {target}")
    files = session.download(kaggle_slug, target)
    dataset = comp.load(target)
    out.print(f"{len(files)} file(s) in {target}: {len(dataset.train):,} training rows, {len(dataset.test):,} test "
              f"rows, checked.")
    out.print(f"Next: submit {competition}" + (f" --data {target}" if to else ""))


@app.command()
def package(
    competition: Annotated[str, typer.Argument(help="A Kaggle code competition (wsdm, lmsys).")],
    experiment: Experiment = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where bundles are written.")] = Path("bundles"),
    wheels: Annotated[Path | None, typer.Option(help="A folder of extra wheels to bundle (packages Kaggle's image "
                                                     "lacks, e.g. from `pip download --no-deps`).")] = None,
    fetch: Annotated[bool, typer.Option(help="Download the wheels Kaggle's image lacks into the bundle (needs the "
                                             "package registry); without it, the command to do so is printed.")] = True,
    gpu: Annotated[bool, typer.Option(help="Ask for a GPU in the notebook's metadata.")] = False,
    data: Annotated[Path | None, typer.Option(help="Folder with the host's files, to measure the notebook's run time "
                                                    "on. Default: data/<competition> if downloaded, else the bundled "
                                                    "sample.")] = None,
    runs: RunsDir = Path("runs"),
) -> None:
    """Build an inference bundle: the harness wheel, the experiment's fold models, and a notebook.

    Try the notebook offline with SUBMIT_INPUT_ROOT/SUBMIT_WORKING_ROOT pointing at folders laid out like
    /kaggle/input and /kaggle/working.

    \b
    Example:
      submit package wsdm --experiment default-1a2b3c4d5e
    """
    from submit.cv.store import Store
    from submit.package import build_bundle
    from submit.predict import experiment_dir

    exp = experiment or _best_experiment(Store(runs / "leaderboard.sqlite", read_only=True), competition)
    bundle = build_bundle(competition, exp, out_dir, runs_dir=runs, extra_wheels=wheels, enable_gpu=gpu, fetch=fetch)
    out.print(f"Bundle written: [bold]{bundle.root}[/]\n  dataset: {bundle.dataset}\n  notebook: {bundle.notebook}")
    _print_notebook_estimate(get_competition(competition), experiment_dir(competition, exp, runs), data)
    if bundle.fetch_command:
        console.print(f"warning: the bundle lacks wheels Kaggle's image does not have; where the package registry "
                      f"can be reached, run `{bundle.fetch_command}`, then package again with --wheels DIR",
                      style="yellow", markup=False, highlight=False)
    out.print(f"Next: submit upload {competition} --experiment {exp} -m MESSAGE")


def _wait_for_score(session: KaggleSession, store: Store, competition: str, slug: str, ref: str, timeout_s: float,
                    poll_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    with console.status(f"waiting for Kaggle to score submission {ref}"):
        while True:
            remote = next((s for s in session.submissions(slug) if s.ref == ref), None)
            if remote is not None and remote.status != "pending":
                store.update_submission(competition, ref, remote.status, remote.public_score, remote.private_score)
                return remote
            if time.monotonic() + poll_s > deadline:
                return None
            time.sleep(poll_s)


def _upload_dacon(comp: Competition, submission: Path, exp_id: str, message: str, team: str | None, force: bool,
                  store: Store) -> None:
    from submit.dacon import check_scorer_model, dacon_api, manual_steps, upload_to_dacon

    model = check_scorer_model(submission, force)
    token = os.environ.get("DACON_TOKEN")
    if dacon_api() is None or not token:
        why = "Dacon's dacon_submit_api is not installed" if dacon_api() is None else "DACON_TOKEN is not set"
        out.print(f"Not uploaded: {why}. To submit by hand:")
        for step in manual_steps(submission, comp.url or "https://dacon.io", message):
            out.print(f"  {step}", markup=False, highlight=False)
        raise typer.Exit(1)
    upload_to_dacon(submission, cpt_id=comp.slug, token=token, team=team or "", memo=message)
    store.record_submission(exp_id, comp.name, submission.resolve(), model, message, status="submitted")
    out.print(f"Uploaded to Dacon: {submission}. Dacon's API returns no score; read it on {comp.url}")


def _upload_code(session: KaggleSession, comp: Competition, slug: str, exp_id: str, message: str, runs: Path,
                 bundles: Path, wheels: Path | None, gpu: bool, timeout_s: float, poll_s: float) -> str:
    from submit.package import build_bundle, set_owner

    owner = session.credentials.username or os.environ.get("KAGGLE_USERNAME")
    if not owner:
        raise KaggleError(f"the bundle's dataset and notebook need your Kaggle user name: the credentials from "
                          f"{session.credentials.source} do not hold one; export KAGGLE_USERNAME=<you>")
    bundle = build_bundle(comp.name, exp_id, bundles, runs_dir=runs, extra_wheels=wheels, enable_gpu=gpu)
    if bundle.fetch_command:
        console.print(f"warning: the bundle lacks wheels Kaggle's image does not have, so its notebook may fail there; "
                      f"run `{bundle.fetch_command}`, then upload again with --wheels DIR", style="yellow",
                      markup=False, highlight=False)
    set_owner(bundle.root, owner)
    dataset_ref = session.push_dataset(bundle.dataset, message)
    console.print(f"dataset {dataset_ref} uploaded; waiting until Kaggle has processed it")
    session.wait_dataset_ready(dataset_ref, timeout_s, poll_s)
    kernel, version = session.push_kernel(bundle.kernel)
    console.print(f"notebook {kernel} version {version} pushed; waiting for its run on Kaggle")
    session.wait_kernel(kernel, timeout_s, poll_s)
    return session.submit_kernel(slug, kernel, version, message)


def _check_submissions_left(session: KaggleSession, slug: str) -> None:
    limits = session.submissions_left(slug)
    out.print(f"{slug}: {limits.allowed_now} submission(s) left today ({limits.today} made today"
              + (", limited by the total cap" if limits.limited_by_total else "") + ")")
    if limits.allowed_now <= 0:
        raise KaggleError(f"no submissions left today on {slug}; try after the daily reset (00:00 UTC)")


def _checked_submission(comp: Competition, store: Store, experiment: str | None, data: Path | None, runs: Path
                        ) -> tuple[str, Path]:
    """The experiment to upload (given, else the best) and its submission file, checked again as the host will."""
    from submit.cv.experiment import Experiment
    from submit.pipeline import resolve_data_dir
    from submit.predict import experiment_dir
    from submit.validate import validate_file

    found = Experiment(experiment_dir(comp.name, experiment or _best_experiment(store, comp.name), runs))
    exp_id, submission = found.id, found.submission_path
    data_dir, _ = resolve_data_dir(comp, data)
    dataset = comp.load(data_dir)
    validate_file(submission, dataset.sample_submission, comp.submission_spec(dataset))
    return exp_id, submission


@app.command()
def upload(
    competition: Annotated[str, typer.Argument(help="A competition name.")],
    message: Annotated[str, typer.Option("--message", "-m", help="The submission's description on the host.")],
    experiment: Experiment = None,
    wait: Annotated[bool, typer.Option(help="Wait until the host has scored it and record the public score.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most for each host step.")] = 1800,
    poll: Annotated[float, typer.Option(help="Seconds between status checks.")] = 15,
    data: Annotated[Path | None, typer.Option(help="Folder with the host's files (sample_submission for the "
                                                    "check).")] = None,
    slug: Slug = None,
    wheels: Annotated[Path | None, typer.Option(help="Extra wheels for a code competition's bundle.")] = None,
    gpu: Annotated[bool, typer.Option(help="Code competitions: run the notebook on a GPU.")] = False,
    team: Annotated[str | None, typer.Option(help="Dacon: the team name.")] = None,
    force: Annotated[bool, typer.Option(help="Dacon: upload vectors not made by the scorer's model.")] = False,
    runs: RunsDir = Path("runs"),
) -> None:
    """Check the experiment's submission again, then upload it; --wait records the public score.

    Kaggle file competitions: the CSV. Kaggle code competitions (wsdm, lmsys): the bundle of `submit package`
    as a private dataset plus notebook, then the notebook's version as the submission. Dacon (hansol): its API
    wheel if installed (DACON_TOKEN), else the steps by hand.

    \b
    Example:
      submit upload wsdm -m "lgbm" --wait
    """
    comp = get_competition(competition)
    if _on_kaggle(comp, slug):
        require_client()  # before anything is written
    from submit.cv.store import Store

    store = Store(runs / "leaderboard.sqlite")
    exp_id, submission = _checked_submission(comp, store, experiment, data, runs)
    if comp.host == "dacon":
        _upload_dacon(comp, submission, exp_id, message, team, force, store)
        return
    kaggle_slug, session = _kaggle_slug(comp, slug), _session()
    _check_submissions_left(session, kaggle_slug)
    ref = (_upload_code(session, comp, kaggle_slug, exp_id, message, runs, Path("bundles"), wheels, gpu, timeout, poll)
           if comp.code_competition else session.submit_file(kaggle_slug, submission, message))
    store.record_submission(exp_id, competition, submission.resolve(), None, message, host_ref=ref,
                            status="pending")
    out.print(f"Submitted {exp_id} to {kaggle_slug}: submission {ref}")
    if not wait:
        out.print(f"Next: submit leaderboard {competition} --sync (once Kaggle has scored it)")
        return
    _report_score(_wait_for_score(session, store, competition, kaggle_slug, ref, timeout, poll), store, competition,
                  exp_id, ref, timeout)


def _report_score(remote: Any, store: Store, competition: str, exp_id: str, ref: str, timeout: float) -> None:
    """What Kaggle made of an upload waited for (remote: its submission, None when not scored in time)."""
    if remote is None:
        out.print(f"Not scored within {timeout:.0f} s; later: submit leaderboard {competition} --sync")
    elif remote.status == "error":
        out.print(f"Kaggle could not score submission {ref}: {remote.error or 'no reason given'}")
        raise typer.Exit(1)
    else:
        cv = store.experiment(exp_id)["cv_mean"]
        out.print(f"Public score [bold]{remote.public_score}[/] (CV {cv:.4f}); see: submit leaderboard {competition}")


def sync_scores(competition: str, runs: Path, slug: str | None) -> pd.DataFrame:
    """Fetch our submissions' scores from Kaggle into the store; returns CV beside public/private per experiment."""
    import pandas as pd

    comp = get_competition(competition)
    kaggle_slug = _kaggle_slug(comp, slug)
    session = _session()
    from submit.cv.noise import with_noise
    from submit.cv.store import Store
    from submit.leaderboard import vs_leader

    store = Store(runs / "leaderboard.sqlite")
    remote = {s.ref: s for s in session.submissions(kaggle_slug)}
    ours = store.submissions(competition)
    for row in ours:
        found = remote.get(row["host_ref"])
        if found is not None:
            store.update_submission(competition, found.ref, found.status, found.public_score, found.private_score)
    unknown = len(set(remote) - {r["host_ref"] for r in ours})
    if unknown:
        console.print(f"{unknown} submission(s) on Kaggle were not made with `submit upload`; they are not matched to "
                      "experiments")
    board = session.leaderboard(kaggle_slug)
    if board:
        console.print(f"public leaderboard: {len(board)} teams on its first page, top score {board[0][1]:.5f}")
    rows = with_noise(store.leaderboard(competition), runs)
    return pd.DataFrame([{"experiment": r["id"], "cv": r["cv_mean"], "public": r["public_score"],
                          "private": r["private_score"], "cv_se": r["cv_se"], "vs_leader": vs_leader(r)} for r in rows])


def rank_correlation(frame: pd.DataFrame, column: str = "public") -> float | None:
    """Spearman's rank correlation of CV and the host's score over experiments that have both."""
    both = frame.dropna(subset=["cv", column])
    if len(both) < 2:
        return None
    return float(both["cv"].rank().corr(both[column].rank()))


def sync_table(frame: pd.DataFrame, competition: str) -> Table:
    import pandas as pd
    from rich.table import Table

    table = Table(title=f"{competition}: CV beside the Kaggle leaderboard")
    for name in ("experiment", "CV", "public", "private"):
        table.add_column(name, justify="left" if name == "experiment" else "right")
    for r in frame.itertuples(index=False):
        table.add_row(r.experiment, f"{r.cv:.4f}", *("–" if pd.isna(v) else f"{v:.4f}" for v in (r.public, r.private)))
    return table


def show_sync(competition: str, runs: Path, slug: str | None) -> None:
    """`submit leaderboard --sync`: fetch, then print CV beside the host's scores (the CV table follows)."""
    frame = sync_scores(competition, runs, slug)
    out.print(sync_table(frame, competition))
    for column in ("public", "private"):
        rho = rank_correlation(frame, column)
        if rho is not None:
            out.print(f"CV-{column} rank correlation (Spearman, {frame[column].notna().sum()} experiments): {rho:.3f}")
