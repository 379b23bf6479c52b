#!/usr/bin/env bash
# Dry run of .github/workflows/release.yml: every step that needs no GitHub, on a throw-away clone
# of the committed HEAD (your checkout, its tags and the registry are left alone).
#
#   scripts/release-dry-run.sh [X.Y.Z] [--skip-tests]
#
# X.Y.Z defaults to package.json's version. When CHANGELOG.md has no section for it yet, the clone
# is prepared as a maintainer would (scripts/release.mjs prepare X.Y.Z, commit), then tagged vX.Y.Z,
# and the workflow's steps run in order: plan → ci (type check, tests, dist/ check) → package (npm
# pack) → npm publish --dry-run. The steps that need GitHub (the release, pushing the major tag,
# provenance, the e2e job's `uses: ./`) are printed, not run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=""
skip_tests=false
for arg in "$@"; do
  case "$arg" in
    --skip-tests) skip_tests=true ;;
    -*) echo "usage: scripts/release-dry-run.sh [X.Y.Z] [--skip-tests]" >&2; exit 2 ;;
    *) version="$arg" ;;
  esac
done
version=${version:-$(node -p "require('$root/package.json').version")}
tag="v$version"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "clone of HEAD ($(git -C "$root" rev-parse --short HEAD)) into a temporary folder"
git clone --quiet --no-hardlinks "$root" "$work/repo"
cd "$work/repo"
export RUNNER_TEMP="$work/runner-temp" GITHUB_OUTPUT="$work/github-output"
mkdir -p "$RUNNER_TEMP"
repository=${GITHUB_REPOSITORY:-$(node -p "(require('./package.json').repository?.url ?? '').replace(/^.*github\.com[/:]/, '').replace(/\.git$/, '')")}

step "npm ci"
npm ci --no-audit --no-fund --prefer-offline

if ! grep -q "^## \[$version\] - " CHANGELOG.md; then
  step "prepare $version in the clone (what a maintainer commits before tagging)"
  node scripts/release.mjs prepare "$version"
  git -c user.name=release-dry-run -c user.email=release-dry-run@localhost commit --quiet -am "Release $version (dry run)"
fi
git tag --force "$tag" > /dev/null

step "plan: node scripts/release.mjs plan $tag --repository $repository"
node scripts/release.mjs plan "$tag" --notes "$RUNNER_TEMP/release-notes.md" --repository "$repository" | tee -a "$GITHUB_OUTPUT"
sha=$(git rev-parse HEAD)
echo "sha=$sha" | tee -a "$GITHUB_OUTPUT"
out() { sed -n "s/^$1=//p" "$GITHUB_OUTPUT" | tail -n 1; }

step "ci: npm run typecheck"
npm run typecheck --silent && echo "type check passed"

if [ "$skip_tests" = true ]; then
  step "ci: npm test (skipped: --skip-tests)"
else
  step "ci: npm test (REQUIRE_S3=1 REQUIRE_REDIS=1), Node $(node --version) here; GitHub runs Node 22 and 24"
  REQUIRE_S3=1 REQUIRE_REDIS=1 npm test
fi

step "ci: node scripts/release.mjs verify-dist"
node scripts/release.mjs verify-dist

step "e2e: needs a GitHub runner (uses: ./); test/action/dist.test.ts ran the same dist/index.js in the tests"

step "package: npm pack"
mkdir -p "$RUNNER_TEMP/package"
npm pack --silent --pack-destination "$RUNNER_TEMP/package" > /dev/null
tarball=$(ls "$RUNNER_TEMP/package/"*.tgz)
tar -tzf "$tarball"

step "npm: npm publish --dry-run --tag $(out dist-tag) (the workflow adds --provenance, which needs a GitHub Actions OIDC token)"
npm publish "$tarball" --dry-run --tag "$(out dist-tag)" 2>&1 | grep -v '^npm notice [0-9.]*k\?B ' || true

step "release: what the workflow would run with GitHub's token (not run)"
prerelease_flag=""
if [ "$(out prerelease)" = true ]; then prerelease_flag=" --prerelease"; fi
echo "gh release create $tag --verify-tag --title $tag --notes-file release-notes.md$prerelease_flag $(basename "$tarball")"
echo "--- release-notes.md ($(wc -l < "$RUNNER_TEMP/release-notes.md") lines) ---"
head -n 12 "$RUNNER_TEMP/release-notes.md"
echo "---"
if [ "$(out move-major)" = true ]; then
  git tag --force "$(out major)" "$sha" > /dev/null
  echo "major tag: $(out major) -> $(git rev-parse --short "$(out major)") in the clone; the workflow then runs: git push --force origin refs/tags/$(out major)"
else
  echo "major tag: $(out major) stays where it is (a pre-release, or not the newest release of $(out major))"
fi

step "dry run of $tag passed"
