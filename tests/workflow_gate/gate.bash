# The interrupted-run tests' known point (tests/test_workflow.py), no production code involved:
# Snakemake runs every job's shell command with bash, and bash sources $BASH_ENV first, so this
# file turns `waferrepro` into a function around the real command for every job of the run.
# A record job (--out .../records/*.json) appends its --out to $GATE_DIR/ran once its record is
# written; the $GATE_AT-th then writes its --out to $GATE_DIR/reached and waits while
# $GATE_DIR/block exists. The test interrupts the run there: that job is running, its record
# already on disk, and, on one core, no other job is running.
waferrepro() {
    local out="" prev="" arg
    for arg in "$@"; do
        [ "$prev" = --out ] && out=$arg
        prev=$arg
    done
    command waferrepro "$@" || return
    case $out in */records/*.json) ;; *) return 0 ;; esac
    echo "$out" >> "$GATE_DIR/ran"
    if [ "$(wc -l < "$GATE_DIR/ran")" -eq "$GATE_AT" ]; then
        echo "$out" > "$GATE_DIR/reached"
        while [ -e "$GATE_DIR/block" ]; do sleep 0.05; done
    fi
}
