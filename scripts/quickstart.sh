#!/usr/bin/env bash
# Runs README.md's Quick start as written, in an empty directory: every
# block after a `<!-- quickstart: file PATH -->` line is written to PATH,
# every ```sh block after `<!-- quickstart: run -->` is run, in order.
# The crates come from this checkout ($TENANT_RS, as the Quick start
# says); the project builds in its own target directory, its versions
# pinned by the workspace's lock file.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TENANT_RS=$PWD
: "${DATABASE_URL:?set DATABASE_URL to a role that may create databases and roles}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A target directory of its own that survives between runs on one machine,
# so a second run does not compile everything again.
export CARGO_TARGET_DIR=${QUICKSTART_TARGET_DIR:-$TENANT_RS/target/quickstart}

python3 - "$TENANT_RS/README.md" "$work/steps" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
start = text.index("<!-- quickstart: start -->")
end = text.index("<!-- quickstart: end -->")
lines = text[start:end].splitlines()
steps, i, pending = [], 0, None
while i < len(lines):
    line = lines[i]
    m = re.match(r"<!-- quickstart: (file (\S+)|run) -->", line.strip())
    if m:
        pending = ("file", m.group(2)) if m.group(2) else ("run", None)
    elif line.startswith("```") and pending:
        body = []
        i += 1
        while not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        steps.append({"kind": pending[0], "path": pending[1], "body": "\n".join(body) + "\n"})
        pending = None
    i += 1
if not any(s["kind"] == "run" for s in steps):
    sys.exit("README.md's Quick start has no runnable step")
json.dump(steps, open(sys.argv[2], "w"))
PY

cd "$work"
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' steps)
for n in $(seq 0 $((count - 1))); do
  kind=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]["kind"])' steps "$n")
  body=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]["body"], end="")' steps "$n")
  if [ "$kind" = file ]; then
    path=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]["path"])' steps "$n")
    echo "quickstart: write $path"
    mkdir -p "$(dirname "$project/$path")"
    printf '%s' "$body" >"$project/$path"
  else
    echo "quickstart: run"
    printf '%s' "$body" | sed 's/^/  $ /'
    # Each block runs in the project once `cargo new` made it.
    project=${project:-$work}
    (cd "$project" && bash -euo pipefail -c "$body")
    # `cargo new NAME` in the first block: later steps run inside it.
    if [ "$project" = "$work" ]; then
      made=$(find "$work" -mindepth 2 -maxdepth 2 -name Cargo.toml | head -n 1)
      [ -n "$made" ] && project=$(dirname "$made")
      # The versions the workspace is tested with.
      cp "$TENANT_RS/Cargo.lock" "$project/Cargo.lock"
    fi
  fi
done
echo "quickstart: every step ran"
