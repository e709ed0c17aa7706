#!/usr/bin/env bash
# Fetch a local OpenSearch 2.x for tests and benchmarks, from Maven Central only (no Docker).
#
#   bash infra/opensearch/fetch.sh        # prints the install directory on stdout
#
# What it gets (cached under ${REKO_OPENSEARCH_HOME:-~/.cache/reko/opensearch}):
#   * org.opensearch.distribution.integ-test-zip:opensearch:<VERSION>:zip — the minimal
#     distribution OpenSearch's own integration tests use: core server + HTTP transport, no
#     security plugin, no bundled JDK (runs on the machine's Java 11/17/21).
#   * org.opensearch.plugin:analysis-common:<VERSION> (jar) — installed as the module
#     modules/analysis-common (the full distribution ships it): the `cjk` analyzer, the `ngram`
#     tokenizer and the `lowercase`/`cjk_width` filters reko's mapping uses. It is published
#     as a bare jar, so this script writes its plugin-descriptor.properties.
#   * org.opensearch.plugin:lang-painless:<VERSION> and the jars its module holds in the full
#     distribution (antlr4-runtime, asm*, opensearch-scripting-painless-spi), installed as
#     modules/lang-painless with the descriptor and the security policy the full distribution
#     ships: moment queries (issue 15) join on the server with Painless scripts, as they do on
#     Amazon OpenSearch Service.
#
# VERSION is pinned: the newest 2.x on Maven Central when this was written (checked with
# `mvn versions:display-dependency-updates`: 2.0.0 … 2.19.1, 2.19.6, then 3.x, which needs Java 21).
# Idempotent: a finished install (marker file) is reused.
set -euo pipefail

VERSION=${REKO_OPENSEARCH_VERSION:-2.19.6}
CACHE=${REKO_OPENSEARCH_HOME:-$HOME/.cache/reko/opensearch}
DIST=org.opensearch.distribution.integ-test-zip:opensearch:${VERSION}:zip
ANALYSIS=org.opensearch.plugin:analysis-common:${VERSION}:jar
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1
HOME_DIR=$CACHE/opensearch-$VERSION

MARKER=$HOME_DIR/.reko-installed-2  # -2: lang-painless added (an older install lacks it)
if [[ -f $MARKER ]]; then
  echo "$HOME_DIR"
  exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh: mvn (Maven) is needed: sudo apt-get install maven" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch.sh: Java 11+ is needed: sudo apt-get install openjdk-17-jre-headless" >&2; exit 1; }

mkdir -p "$CACHE/downloads"
# dependency:copy needs a project; an empty one in a temp dir keeps the caller's tree clean.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>reko</groupId><artifactId>fetch-opensearch</artifactId><version>1</version>
  <dependencies><dependency><groupId>org.opensearch.plugin</groupId><artifactId>lang-painless</artifactId>
    <version>$VERSION</version></dependency></dependencies></project>
POM
for artifact in "$DIST" "$ANALYSIS"; do
  echo "fetch.sh: mvn dependency:copy $artifact" >&2
  (cd "$work" && mvn -q -B -Dstyle.color=never "$DEP_PLUGIN:copy" -Dartifact="$artifact" \
      -DoutputDirectory="$CACHE/downloads" -Dmdep.overWriteReleases=false) >&2
done

# lang-painless and the jars of its module (the rest of its dependencies are the server's own)
PAINLESS_JARS=lang-painless,opensearch-scripting-painless-spi,antlr4-runtime,asm,asm-analysis,asm-commons,asm-tree,asm-util
echo "fetch.sh: mvn dependency:copy-dependencies ($PAINLESS_JARS)" >&2
rm -rf "$CACHE/downloads/lang-painless"
(cd "$work" && mvn -q -B -Dstyle.color=never "$DEP_PLUGIN:copy-dependencies" -DincludeArtifactIds="$PAINLESS_JARS" \
    -DoutputDirectory="$CACHE/downloads/lang-painless") >&2

rm -rf "$HOME_DIR"
unzip -q -o "$CACHE/downloads/opensearch-$VERSION.zip" -d "$CACHE"
# module NAME CLASSNAME DESCRIPTION JAR...: install jars as modules/NAME with its descriptor
module() {
  local name=$1 classname=$2 description=$3 dir=$HOME_DIR/modules/$1
  shift 3
  mkdir -p "$dir"
  cp "$@" "$dir/"
  cat >"$dir/plugin-descriptor.properties" <<PROPS
description=$description (from Maven Central, installed by reko fetch.sh)
version=$VERSION
name=$name
classname=$classname
java.version=11
opensearch.version=$VERSION
custom.foldername=
extended.plugins=
has.native.controller=false
PROPS
}
module analysis-common org.opensearch.analysis.common.CommonAnalysisPlugin \
  'Adds "built in" analyzers to OpenSearch' "$CACHE/downloads/analysis-common-$VERSION.jar"
module lang-painless org.opensearch.painless.PainlessPlugin \
  'An easy, safe and fast scripting language for OpenSearch' "$CACHE/downloads/lang-painless/"*.jar
# the policy of modules/lang-painless in the full distribution: Painless compiles scripts to
# classes in their own class loader
cat >"$HOME_DIR/modules/lang-painless/plugin-security.policy" <<'POLICY'
grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
POLICY
touch "$MARKER"
echo "fetch.sh: installed OpenSearch $VERSION in $HOME_DIR" >&2
echo "$HOME_DIR"
