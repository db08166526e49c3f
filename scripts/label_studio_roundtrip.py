"""The annotation loop against a real Label Studio server (issue 25, item 4), start to finish.

Run it with the Python of a virtual environment that holds Label Studio and its SDK (never the
project's own: Label Studio pins its own Django stack), and point ``--stance-bin`` at the folder
holding ``stance-predict`` and friends::

    python3 -m venv /tmp/ls && /tmp/ls/bin/pip install label-studio label-studio-sdk 'sentry-sdk<3'
    /tmp/ls/bin/python scripts/label_studio_roundtrip.py --stance-bin .venv/bin --work /tmp/roundtrip

(``sentry-sdk<3``: label-studio 1.23.2 asks for ``sentry-sdk>=2.16`` and fails to start with 3.0.)

What it does, every step through the real tool:

1. starts ``label-studio`` on localhost (SQLite, a fresh data folder), with an admin whose API token
   it sets;
2. writes ten bundled world-affairs training articles as JSONL (our own text), and a version to
   pre-annotate with: ``--version``, or ``stance-train debug=tiny`` (seconds);
3. ``stance-predict ... --export label-studio tasks.json --select uncertain --n N``;
4. creates two projects with ``python -m stance.label_studio`` (the packaged XML) through the SDK,
   imports the tasks with their predictions into both, and checks they come back unchanged;
5. three annotators sign up with the organisation's invite link, each with their own API token:
   - project "accept": the first accepts every pre-annotation as it is;
   - project "annotate": the first corrects every task to the gold labels (deletes spans that are no
     gold mention, adds gold mentions the finder missed) and skips some; the second annotates every
     third task, skips some and disagrees on every other; the third breaks half of those ties;
6. exports both projects as JSON (the API behind the UI's Export button);
7. ``stance-prepare`` reads them (``format: label_studio``): "accept" must give back exactly the
   model's labels; "annotate" must give exactly what the annotators submitted, under
   ``annotations: first`` and ``adjudicate``;
8. round 2: ``stance-predict ... --exclude`` both exports; none of its pairs may be one the annotators
   were shown or added, and it must still find ``--n`` new ones;
9. ``stance-train debug=tiny`` on the labels, then ``stance-evaluate ... compare=`` the pre-annotating
   version on the held-out part of them.

``--record FILE`` copies the "annotate" export there (the fixture of tests/test_label_studio.py).
Everything else stays in ``--work``; the summary is printed and written to ``roundtrip.json`` there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from label_studio_sdk import LabelStudio

ADMIN, PASSWORD = "admin@example.com", "stance-roundtrip-admin"
ADMIN_TOKEN = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"  # legacy token format: 40 hex digits
ANNOTATORS = ("ann1@example.com", "ann2@example.com", "ann3@example.com")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Stance:
    """The project's commands, run as a user runs them."""

    def __init__(self, bin_dir: Path, work: Path) -> None:
        self.bin = bin_dir
        self.work = work

    def run(self, command: str, *args: str) -> str:
        done = subprocess.run([str(self.bin / command), *args], cwd=self.work, capture_output=True, text=True)
        (self.work / "commands.log").open("a").write(f"$ {command} {' '.join(args)}\n{done.stdout}{done.stderr}\n")
        if done.returncode != 0:
            raise SystemExit(f"{command} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def python(self, code: str) -> str:
        return self.run("python", "-c", code)


# ---------------------------------------------------------------- the server


def start_server(ls_bin: Path, work: Path, port: int) -> subprocess.Popen:
    cmd = [str(ls_bin / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(work / "ls-data"), "--username", ADMIN, "--password", PASSWORD,
           "--user-token", ADMIN_TOKEN, "--enable-legacy-api-token"]
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(work / "ls-data")}
    server = subprocess.Popen(cmd, stdout=(work / "server.log").open("w"), stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)  # its own process group: stopped as one at the end
    started = time.perf_counter()
    while time.perf_counter() - started < 300:
        if server.poll() is not None:
            raise SystemExit(f"label-studio exited ({server.returncode}); see {work / 'server.log'}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                log(f"label-studio is up on port {port} after {time.perf_counter() - started:.0f} s")
                return server
        except requests.ConnectionError:
            pass
        time.sleep(2)
    stop_server(server)
    raise SystemExit("label-studio did not answer /health within 300 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def sign_up(base: str, email: str) -> LabelStudio:
    """An annotator signs up with the invite link and reads their own API token, as in the UI."""
    invite = requests.get(f"{base}/api/invite", headers={"Authorization": f"Token {ADMIN_TOKEN}"}, timeout=30).json()
    session = requests.Session()
    url = f"{base}/user/signup/?token={invite['token']}"
    session.get(url, timeout=30)
    session.post(url, data={"email": email, "password": f"pw-{email}", "csrfmiddlewaretoken":
                            session.cookies.get("csrftoken")}, headers={"Referer": url}, timeout=30)
    token = session.get(f"{base}/api/current-user/token", timeout=30).json()["token"]
    client = LabelStudio(base_url=base, api_key=token)
    log(f"annotator {email} signed up (user {client.users.whoami().id})")
    return client


# ---------------------------------------------------------------- data


def world_affairs_articles(stance: Stance, n: int) -> tuple[list[dict], dict[tuple[str, str], list[dict]]]:
    """``n`` bundled training articles as JSONL documents (one sentence per line), and the gold targets."""
    folder = stance.python("import stance, pathlib; print(pathlib.Path(stance.__file__).parent / "
                           "'datasets' / 'world_affairs')").strip()
    sentences: dict[str, list[dict]] = {}
    for line in (Path(folder) / "train.jsonl").read_text().splitlines():
        row = json.loads(line)
        sentences.setdefault(row["doc_id"], []).append(row)
    docs = sorted(sentences)[:n]
    articles = [{"id": d, "text": "\n".join(s["sentence"] for s in sentences[d])} for d in docs]
    gold = {(d, s["sentence"]): s["targets"] for d in docs for s in sentences[d]}
    return articles, gold


def data_config(work: Path, name: str, file: str, annotations: str, carve: bool) -> None:
    split = "{validation: 0.2, test: 0.3}" if carve else "{carve_from: null}"
    lines = [f"name: {name}", "format: label_studio", f"path: {work}", f"files: {{train: {file}}}",
             f"format_options: {{annotations: {annotations}}}", f"split: {split}"]
    if carve:
        lines.append("eval_splits: [test]")
    (work / "configs" / "data").mkdir(parents=True, exist_ok=True)
    (work / "configs" / "data" / f"{name}.yaml").write_text("\n".join(lines) + "\n")


def prepared_pairs(stance: Stance, work: Path, name: str) -> tuple[list[list], str]:
    """stance-prepare on a data config; every (task, start, end, label) of every prepared split, and its output."""
    out = stance.run("stance-prepare", "--config-dir", str(work / "configs"), f"data={name}",
                     f"prepared_root={work / 'prepared'}", f"hydra.run.dir={work / 'hydra' / name}")
    folder = out.split("stance-prepare: ", 1)[1].split(" (", 1)[0]
    code = (f"import json; from stance.data import load_prepared; p = load_prepared({str(work / folder)!r}); "
            "print(json.dumps(sorted([r['id'], t['start'], t['end'], t['label']] for s in p.splits "
            "for r in p.split(s) for t in r['targets'])))")
    return json.loads(stance.python(code)), out


# ---------------------------------------------------------------- annotating


def region(start: int, end: int, text: str, label: str, region_id: str | None = None) -> dict:
    rid = region_id or "".join(random.Random(f"{start}:{end}:{text}").choices(string.ascii_letters, k=10))
    return {"id": rid, "from_name": "stance", "to_name": "text", "type": "labels", "origin": "manual",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def corrected(task: Any, gold: list[dict], detected: set[tuple[int, int]]) -> list[dict]:
    """What a careful annotator submits: the gold label of every pre-annotated span that is a gold mention
    (a span that is none is deleted), plus the gold mentions the finder missed."""
    text, predicted = task.data["text"], task.predictions[0].result
    by_span = {(g["from"], g["to"]): g["label"] for g in gold}
    result = [region(p["value"]["start"], p["value"]["end"], text, by_span[(p["value"]["start"], p["value"]["end"])],
                     p["id"]) for p in predicted if (p["value"]["start"], p["value"]["end"]) in by_span]
    result += [region(s, e, text, label) for (s, e), label in by_span.items() if (s, e) not in detected]
    return result


def flipped(result: list[dict]) -> list[dict]:
    """The same regions, the first with another stance: a second annotator who reads it otherwise."""
    other = {"favor": "against", "against": "neutral", "neutral": "favor"}
    first = result[0]
    return [{**first, "value": {**first["value"], "labels": [other[first["value"]["labels"][0]]]}}, *result[1:]]


def annotate(clients: list[LabelStudio], tasks: list[Any], gold: dict, detected: dict) -> dict[int, list]:
    """Submit the annotators' work to project "annotate"; returns what each submitted, per task, in order."""
    submitted: dict[int, list] = {}
    for i, task in enumerate(tasks):
        key = (task.data["doc_id"], task.data["text"])
        answer = corrected(task, gold[key], detected[key])
        plan = [(0, answer, i % 10 == 9)]  # ann1 labels every task and skips every tenth
        if i % 3 == 0 and answer:
            plan.append((1, flipped(answer) if i % 2 == 0 else answer, i % 15 == 12))  # ann2: a third
        if i % 12 == 0 and answer:
            plan.append((2, answer, False))  # ann3 breaks half the ties ann2 makes (a majority); the rest stay ties
        for who, result, skip in plan:
            clients[who].annotations.create(id=task.id, result=[] if skip else result, was_cancelled=skip,
                                            lead_time=round(random.Random(task.id).uniform(4, 40), 1))
            submitted.setdefault(task.id, []).append((who, None if skip else result))
    return submitted


def expected_pairs(submitted: dict[int, list], policy: str) -> list[list]:
    """What the reader must give for these submissions (first: the earliest; adjudicate: the majority)."""
    out = []
    for task, answers in submitted.items():
        used = [result for _, result in answers if result is not None]
        if not used:
            continue
        votes: dict[tuple[int, int], list] = {}
        for result in used:
            for r in result:
                votes.setdefault((r["value"]["start"], r["value"]["end"]), [])
        for span in votes:
            votes[span] = [next((r["value"]["labels"][0] for r in result
                                 if (r["value"]["start"], r["value"]["end"]) == span), None) for result in used]
        for span, labels in votes.items():
            if policy == "first":
                label = labels[0]
            else:
                counts = sorted(((labels.count(v), v) for v in set(labels)), key=lambda c: -c[0])
                label = None if len(counts) > 1 and counts[0][0] == counts[1][0] else counts[0][1]
            if label is not None:
                out.append([str(task), span[0], span[1], label])
    return sorted(out)


# ---------------------------------------------------------------- the run


def projects(admin: LabelStudio, xml: str, tasks: list[dict]) -> dict[str, Any]:
    """Two projects with the packaged config, the tasks imported into each and checked unchanged."""
    made = {}
    for title in ("accept", "annotate"):
        project = admin.projects.create(title=f"stance {title}", label_config=xml)
        if title == "annotate":  # up to three annotators per task (the project's "overlap")
            admin.projects.update(id=project.id, maximum_annotations=len(ANNOTATORS))
        imported = admin.projects.import_tasks(id=project.id, request=tasks, return_task_ids=True)
        back = [admin.tasks.get(id=i) for i in imported.task_ids]
        same = all(b.data == t["data"] and [_plain(r) for r in b.predictions[0].result] == t["predictions"][0]["result"]
                   and b.predictions[0].model_version == t["predictions"][0]["model_version"]
                   for b, t in zip(back, tasks, strict=True))
        log(f"project {title} ({project.id}): imported {imported.task_count} tasks with "
            f"{imported.prediction_count} predictions; data and predictions come back unchanged: {same}")
        if not same:
            raise SystemExit("the imported tasks differ from the export")
        made[title] = {"id": project.id, "tasks": back}
    return made


def _plain(result: dict) -> dict:
    return {k: result[k] for k in ("id", "from_name", "to_name", "type", "value", "score") if k in result}


def export(admin: LabelStudio, project: int, path: Path) -> list[dict]:
    data = b"".join(admin.projects.exports.download_sync(project, export_type="JSON", download_all_tasks=True))
    path.write_bytes(data)
    return json.loads(data)


def model_pairs(tasks: list[Any]) -> list[list]:
    return sorted([str(t.id), r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]]
                  for t in tasks for r in t.predictions[0].result)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work, summary = args.work, {}
    stance = Stance(args.stance_bin, work)
    articles, gold = world_affairs_articles(stance, args.articles)
    (work / "articles.jsonl").write_text("".join(json.dumps(a) + "\n" for a in articles))
    version, registry = args.version, str(work / "registry")
    if version is None:
        out = stance.run("stance-train", "debug=tiny", f"registry={registry}", f"prepared_root={work / 'prepared'}",
                         f"work_dir={work / 'runs'}", f"hydra.run.dir={work / 'hydra' / 'tiny'}")
        version = out.split("wrote ", 1)[1].split(" ", 1)[0]
    stance.run("stance-predict", "articles.jsonl", "--version", version, "--registry", registry, "--no-table",
               "--out", "rows.jsonl", "--export", "label-studio", "tasks.json", "--select", "uncertain", "--n",
               str(args.n))
    tasks = json.loads((work / "tasks.json").read_text())
    rows = [json.loads(line) for line in (work / "rows.jsonl").read_text().splitlines()]
    detected: dict = {}
    for r in rows:
        detected.setdefault((r["doc_id"], r["sentence"]), set()).add((r["start"], r["end"]))
    summary["export"] = {"articles": len(articles), "pairs": len(rows), "tasks": len(tasks),
                         "selected_pairs": sum(len(t["predictions"][0]["result"]) for t in tasks)}
    log(f"stance-predict: {len(rows)} pairs in {len(articles)} articles; exported {summary['export']}")
    xml = stance.python("from stance.label_studio import labelling_config; print(labelling_config(), end='')")
    server = start_server(Path(sys.executable).parent, work, args.port)
    try:
        base = f"http://127.0.0.1:{args.port}"
        admin = LabelStudio(base_url=base, api_key=ADMIN_TOKEN)
        made = projects(admin, xml, tasks)
        clients = [sign_up(base, email) for email in ANNOTATORS]
        for task in made["accept"]["tasks"]:  # ann1 accepts each pre-annotation unchanged
            prediction = task.predictions[0]
            clients[0].annotations.create(id=task.id, result=prediction.result, was_cancelled=False,
                                          parent_prediction=prediction.id, lead_time=2.0)
        submitted = annotate(clients, made["annotate"]["tasks"], gold, detected)
        accepted = export(admin, made["accept"]["id"], work / "export_accept.json")
        annotated = export(admin, made["annotate"]["id"], work / "export_annotate.json")
        log(f"exported {len(accepted)} + {len(annotated)} tasks as JSON")
    finally:
        if not args.keep_server:
            stop_server(server)
    summary["check"] = check(stance, work, made, submitted)
    summary["second_round"] = second_round(stance, work, version, registry, args.n // 3)
    if not args.skip_train:
        summary["train"] = train(stance, work, version, registry)
    if args.record:
        Path(args.record).write_bytes((work / "export_annotate.json").read_bytes())
        log(f"recorded the 'annotate' export at {args.record}")
    return summary


def check(stance: Stance, work: Path, made: dict, submitted: dict) -> dict[str, Any]:
    """The reader against the real exports: the model's labels back from "accept", the submissions from "annotate"."""
    data_config(work, "ls_accept", "export_accept.json", "first", carve=False)
    got, _ = prepared_pairs(stance, work, "ls_accept")
    want = model_pairs(made["accept"]["tasks"])
    out = {"accept": {"pairs": len(got), "model_pairs": len(want), "identical": got == want}}
    log(f"accept: {len(got)} prepared pairs, the model's {len(want)}; identical: {got == want}")
    for policy in ("first", "adjudicate"):
        name = f"ls_{policy}"
        data_config(work, name, "export_annotate.json", policy, carve=False)
        got, printed = prepared_pairs(stance, work, name)
        want = expected_pairs(submitted, policy)
        out[policy] = {"pairs": len(got), "expected": len(want), "identical": got == want,
                       "report": printed.strip().splitlines()[-1]}
        log(f"annotate, {policy}: {len(got)} prepared pairs, {len(want)} submitted; identical: {got == want}")
        log(f"  {out[policy]['report']}")
    if not (out["accept"]["identical"] and out["first"]["identical"] and out["adjudicate"]["identical"]):
        raise SystemExit(f"the prepared labels differ from what was submitted: {out}")
    return out


def seen_pairs(export_file: Path) -> set[tuple[str, int, int]]:
    """(sentence, start, end) of every mention a real export's tasks showed or its annotators labelled."""
    pairs = set()
    for task in json.loads(export_file.read_text()):
        text = task["data"]["text"]
        pairs |= {(text, m["start"], m["end"]) for m in task["data"]["mentions"]}
        pairs |= {(text, r["value"]["start"], r["value"]["end"]) for a in task["annotations"] for r in a["result"]
                  if "start" in r.get("value", {})}
    return pairs


def second_round(stance: Stance, work: Path, version: str, registry: str, n: int) -> dict[str, Any]:
    """The next round's export with ``--exclude`` on both real exports: only pairs nobody has seen."""
    stance.run("stance-predict", "articles.jsonl", "--version", version, "--registry", registry, "--no-table",
               "--export", "label-studio", "round2.json", "--select", "uncertain", "--n", str(n),
               "--exclude", "export_accept.json", "--exclude", "export_annotate.json")
    seen = seen_pairs(work / "export_accept.json") | seen_pairs(work / "export_annotate.json")
    new = {(t["data"]["text"], m["start"], m["end"]) for t in json.loads((work / "round2.json").read_text())
           for m in t["data"]["mentions"]}
    out = {"seen_pairs": len(seen), "round2_pairs": len(new), "round2_already_seen": len(new & seen)}
    log(f"round 2 with --exclude: {len(new)} pairs, {len(new & seen)} of them among the {len(seen)} already seen")
    if new & seen or len(new) != n:
        raise SystemExit(f"round 2 should hold {n} pairs nobody has seen: {out}")
    return out


def train(stance: Stance, work: Path, version: str, registry: str) -> dict[str, Any]:
    """Train debug=tiny on the annotations (validation and test carved by document), compare with the old one."""
    data_config(work, "my_labels", "export_annotate.json", "first", carve=True)
    started = time.perf_counter()
    out = stance.run("stance-train", "--config-dir", str(work / "configs"), "data=my_labels", "debug=tiny",
                     f"registry={registry}", f"prepared_root={work / 'prepared'}", f"work_dir={work / 'runs'}",
                     f"hydra.run.dir={work / 'hydra' / 'train'}")
    new = out.split("wrote ", 1)[1].split(" ", 1)[0]
    log(f"stance-train debug=tiny data=my_labels: {new} in {time.perf_counter() - started:.0f} s")
    compared = stance.run("stance-evaluate", "--config-dir", str(work / "configs"), "data=my_labels",
                          f"version={new}", f"compare={version}", f"registry={registry}",
                          f"prepared_root={work / 'prepared'}", f"hydra.run.dir={work / 'hydra' / 'evaluate'}")
    log(f"stance-evaluate {new} compare={version}: {compared.strip().splitlines()[-1]}")
    return {"version": new, "train_output": out.strip().splitlines(), "evaluate_output": compared.strip().splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stance-bin", type=Path, required=True, help="folder of stance-predict, stance-prepare, ...")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--articles", type=int, default=10, help="bundled training articles to label")
    parser.add_argument("--n", type=int, default=90, help="pairs to export (--select uncertain --n)")
    parser.add_argument("--version", help="version to pre-annotate with (default: stance-train debug=tiny)")
    parser.add_argument("--record", help="copy the 'annotate' project's export here")
    parser.add_argument("--keep-server", action="store_true", help="leave label-studio running at the end")
    parser.add_argument("--skip-train", action="store_true", help="stop after checking the prepared labels")
    args = parser.parse_args()
    args.work = (args.work or Path(tempfile.mkdtemp(prefix="ls-roundtrip-"))).resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.stance_bin = args.stance_bin.resolve()
    started = time.perf_counter()
    summary = run(args)
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    (args.work / "roundtrip.json").write_text(json.dumps(summary, indent=2))
    log(f"round trip passed in {summary['wall_seconds']:.0f} s; summary in {args.work / 'roundtrip.json'}")


if __name__ == "__main__":
    main()
