#!/usr/bin/env bash
# dev/experiments/run.sh NAME [--short]: the experiments of docs/experiments.md, one command each.
#
#   two_phases   pre-training long enough to look for fitting then compression, on the built-in
#                corpus and on Tiny Shakespeare (when data/tinyshakespeare.txt or
#                ../shared/data/tinyshakespeare.txt exists; data/tinyshakespeare.sh downloads it)
#   scale        4 model sizes on the same data, batch, context and steps: where each ends on the
#                information plane, its optimality and its val loss; then the same DPO stage on each
#   dpo          pre-training then DPO on the built-in preference pairs: I_pref per layer, and what
#                DPO does to the pre-training information (I_in1, I_out1)
#   optimality   across the probe steps of two_phases and scale (run them first): correlation of
#                optimality (I_out1/I_in1) with val loss, per layer (Pearson and Spearman); and,
#                across the scale sizes, of optimality with the positive rate after DPO
#
# --short (or SHORT=1): a few steps and few probe sequences, only to check the pipeline end to
# end in a few minutes; its numbers mean nothing. Results go to $EXP_DIR (default runs/experiments)
# /NAME[-short]/: each run folder (train.csv, probes.csv, info_plane.svg with the IB bound, ...),
# plus NAME.csv (numbers) and NAME*.svg (figures). Run from anywhere; it cds to the repository.
# Environment: THREADS (default 0 = all cores), NICE (default 10), STEPS (override the steps),
# DATA (corpus, or shakespeare for the scale experiment on Tiny Shakespeare: NAME scale-shakespeare),
# OMP_WAIT_POLICY (default PASSIVE).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { echo "usage: dev/experiments/run.sh two_phases|scale|dpo|optimality [--short]" >&2; exit 2; }
[ $# -ge 1 ] || usage
NAME=$1
SHORT=${SHORT:-0}
[ "${2:-}" = "--short" ] && SHORT=1
[ $# -le 2 ] || usage
case "$NAME" in two_phases|scale|dpo|optimality) ;; *) usage ;; esac
THREADS=${THREADS:-0}
NICE=${NICE:-10}
# Waiting OpenMP threads sleep instead of spinning: on a machine with other busy processes a
# spinning thread takes the core its partner needs (a tiny run went from 65 to 500 ms/step at load
# ~5). Results are the same bit for bit.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ROOT=${EXP_DIR:-runs/experiments}
SUFFIX=$([ "$SHORT" = 1 ] && echo "-short" || true)
# DATA=shakespeare: the scale experiment on Tiny Shakespeare instead of the built-in corpus
DATA=${DATA:-corpus}
case "$DATA" in corpus|shakespeare) ;; *) echo "DATA must be corpus or shakespeare" >&2; exit 2 ;; esac
[ "$DATA" = shakespeare ] && [ "$NAME" != scale ] && { echo "DATA=shakespeare applies to the scale experiment only" >&2; exit 2; }
OUT="$ROOT/$NAME$([ "$DATA" = shakespeare ] && echo -shakespeare || true)$SUFFIX"
# Tiny Shakespeare, when present
tiny_shakespeare() {
    local f
    for f in data/tinyshakespeare.txt ../shared/data/tinyshakespeare.txt; do [ -f "$f" ] && { echo "$f"; return 0; }; done
    return 1
}
mkdir -p "$OUT"
T0=$(date +%s)
say() { printf '[%s %4ss] %s\n' "$NAME" "$(( $(date +%s) - T0 ))" "$*"; }

make -s train >/dev/null
# (the help text is captured first: `./train --help | grep -q` can fail under pipefail when grep
# exits early and ./train gets SIGPIPE)
HELP=$(./train --help 2>&1 || true)
HAS_IB=0
if grep -q -- '--ib-bound' <<< "$HELP"; then HAS_IB=1; fi
# Without ./train --ib-bound, the bound comes from dev/ib_bound (same tokenizer: the run's own
# tokenizer.json, same split) and the plot is redrawn with it.
build_ib_tool() {
    make -s dev/ib_bound >/dev/null
}

# train_run DIR INPUT(or "") EXTRA-FLAGS...: one ./train run, its stdout kept in DIR.log.
train_run() {
    local dir=$1 input=$2; shift 2
    local inflag=()
    [ -n "$input" ] && inflag=(--input "$input")
    local ibflag=()
    [ "$HAS_IB" = 1 ] && ibflag=(--ib-bound)
    say "./train ${inflag[*]} $* ${ibflag[*]} --out $dir"
    local t=$(date +%s)
    nice -n "$NICE" ./train "${inflag[@]}" --threads "$THREADS" --sample-every 0 "$@" "${ibflag[@]}" --out "$dir" \
        > "$dir.log" 2>&1 || { echo "run failed, see $dir.log:" >&2; tail -5 "$dir.log" >&2; exit 1; }
    if [ "$HAS_IB" = 0 ]; then
        build_ib_tool
        local src=()
        [ -n "$input" ] && src=(--input "$input") || true
        nice -n "$NICE" dev/ib_bound "${src[@]}" --tokenizer "$dir/pretrain/tokenizer.json" --out "$dir/ib_bound.csv" \
            --plot "$dir" >> "$dir.log" 2>&1 || { echo "ib_bound failed, see $dir.log" >&2; exit 1; }
    fi
    say "  done in $(( $(date +%s) - t )) s: $(grep -m1 '^summary' "$dir.log" | sed 's/^summary *//')"
}

# Last value of column COL (by name) of a CSV's rows matching an awk condition on named columns.
# final_rows CSV STAGE: the rows of the last step of stage STAGE in probes.csv.
final_rows() {
    awk -F, -v st="$2" 'NR == 1 { next } $2 == st { if ($1 + 0 > last) last = $1 + 0; row[NR] = $0; s[NR] = $1 + 0 }
        END { for (r in row) if (s[r] == last) print row[r] }' "$1" | sort -t, -k3,3n
}
# The val loss of train.csv at the largest step of stage pretrain that has one.
final_val() { awk -F, 'NR > 1 && $2 == "pretrain" && $4 != "" { v = $4 } END { print v }' "$1"; }

# "before,after,val_accuracy" of a run's DPO stage from its log (fractions; empty when it did not run).
dpo_rates() {
    awk '/^sentiment  positive continuations:/ { for (i = 1; i <= NF; i++) if ($i ~ /%$/) { v[++n] = $i + 0 } }
         /^dpo done/ { acc = $5 + 0 }
         END { if (n >= 2) printf "%.4f,%.4f,%.3f", v[1] / 100, v[2] / 100, acc; else printf ",," }' "$1"
}

# two_phases summary of one run: per layer, the peak of I_in1 (step), its final value, the drop
# after the peak (compression), and the same for I_out1.
phase_summary() {
    local label=$1 dir=$2
    awk -F, -v label="$label" -v vl="$(final_val "$dir/train.csv")" '
        NR == 1 { next }
        $2 != "pretrain" { next }
        { l = $3; s = $1 + 0; xi = $5 + 0; yo = $8 + 0
          if (!(l in pk) || xi > pk[l]) { pk[l] = xi; pks[l] = s }
          if (!(l in po) || yo > po[l]) po[l] = yo
          if (!(l in ls) || s >= ls[l]) { ls[l] = s; fin[l] = xi; fout[l] = yo; fopt[l] = $12 }
          if (!(l in fs) || s <= fs[l]) { fs[l] = s; st[l] = xi; sto[l] = yo } }
        END { for (l in pk) printf "%s,%s,%.4f,%.4f,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%s,%s\n", label, l, st[l], pk[l], pks[l], fin[l],
                pk[l] - fin[l], sto[l], po[l], fout[l], fopt[l], vl }' "$dir/probes.csv" | sort -t, -k2,2n
}

exp_two_phases() {
    local steps=${STEPS:-$([ "$SHORT" = 1 ] && echo 30 || echo 2400)}
    local every=$([ "$SHORT" = 1 ] && echo 10 || echo 80)
    local seqs=$([ "$SHORT" = 1 ] && echo 8 || echo 64)
    local flags=(--steps "$steps" --probe-every "$every" --eval-every "$every" --probe-seqs "$seqs" --save-every 0 --dpo-steps 0)
    echo "data,layer,I_in1_start,I_in1_peak,peak_step,I_in1_end,compression,I_out1_start,I_out1_peak,I_out1_end,optimality_end,val_loss_end" > "$OUT/two_phases.csv"
    train_run "$OUT/corpus" "" "${flags[@]}"
    phase_summary corpus "$OUT/corpus" >> "$OUT/two_phases.csv"
    local ts
    ts=$(tiny_shakespeare || true)
    if [ -n "$ts" ]; then
        train_run "$OUT/shakespeare" "$ts" "${flags[@]}"
        phase_summary tinyshakespeare "$OUT/shakespeare" >> "$OUT/two_phases.csv"
    else
        say "SKIP Tiny Shakespeare: no data/tinyshakespeare.txt (run data/tinyshakespeare.sh)"
    fi
    say "wrote $OUT/two_phases.csv; figures: $OUT/*/info_plane.svg, $OUT/*/probes.svg"
    column -s, -t < "$OUT/two_phases.csv"
}

exp_scale() {
    local steps=${STEPS:-$([ "$SHORT" = 1 ] && echo 20 || echo 1500)}
    local every=$([ "$SHORT" = 1 ] && echo 10 || echo 100)
    local seqs=$([ "$SHORT" = 1 ] && echo 8 || echo 64)
    # name L C H: same B16 x T64 batches, same steps and data order (same seed) for every size
    local sizes=("xs 2 64 2" "s 4 128 4" "m 4 192 6" "l 6 256 8")
    [ "$SHORT" = 1 ] && sizes=("xs 2 64 2" "s 4 128 4")
    local dsteps=$([ "$SHORT" = 1 ] && echo 4 || echo 150)
    local devery=$([ "$SHORT" = 1 ] && echo 2 || echo 50)
    local prompts=$([ "$SHORT" = 1 ] && echo 16 || echo 256)
    local input=""
    if [ "$DATA" = shakespeare ]; then
        input=$(tiny_shakespeare) || { say "no data/tinyshakespeare.txt (run data/tinyshakespeare.sh)"; exit 1; }
    fi
    echo "size,L,C,H,params_M,val_loss,layer,I_in1,I_out1,optimality,positive_before_dpo,positive_after_dpo,dpo_val_accuracy" \
        > "$OUT/scale.csv"
    for s in "${sizes[@]}"; do
        set -- $s
        # after pre-training, DPO on the built-in pairs (same steps for every size): the positive-
        # sentiment rate before and after it is experiment 4's "preference property" per size.
        # Tiny Shakespeare has no preference pairs: pre-training only.
        local dflags=(--dpo-steps "$dsteps" --dpo-eval-every "$devery" --dpo-prompts "$prompts")
        [ -n "$input" ] && dflags=(--dpo-steps 0)
        train_run "$OUT/$1" "$input" --steps "$steps" -L "$2" -C "$3" -H "$4" -B 16 -T 64 --probe-every "$every" \
            --eval-every "$every" --probe-seqs "$seqs" --save-every 0 "${dflags[@]}"
        local pm vl rates
        pm=$(grep -m1 -o '[0-9.]*M parameters' "$OUT/$1.log" | sed 's/M parameters//')
        vl=$(final_val "$OUT/$1/train.csv")
        rates=$(dpo_rates "$OUT/$1.log")
        final_rows "$OUT/$1/probes.csv" pretrain | awk -F, -v s="$1" -v L="$2" -v C="$3" -v H="$4" -v pm="$pm" -v vl="$vl" \
            -v r="$rates" '{ printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", s, L, C, H, pm, vl, $3, $5, $8, $12, r }' \
            >> "$OUT/scale.csv"
    done
    # figure 1: where each size ends on the plane (every layer), with the bound of the shared data
    local bound="$OUT/xs/ib_bound.csv"
    { echo "x,y,group,label"; awk -F, 'NR > 1 { printf "%s,%s,%s (%sM),%s\n", $8, $9, $1, $5, $7 }' "$OUT/scale.csv"; } \
        > "$OUT/scale_plane.data"
    awk -F, -v title="Scale: end of training on the information plane (labels = layer)" \
        -v xlabel="complexity I(X;Z) / ln n_bins (X = input token)" -v ylabel="expressivity I(Y;Z) / ln n_bins (Y = next token)" \
        -v bound="$([ -f "$bound" ] && echo "$bound")" -v lines=1 -f dev/experiments/scatter.awk "$OUT/scale_plane.data" > "$OUT/scale_plane.svg"
    # figure 2: val loss against the last hidden state's optimality, one point per size
    { echo "x,y,group,label"; awk -F, 'NR > 1 { last[$1] = $0 } END { for (s in last) { split(last[s], f, ","); printf "%s,%s,sizes,%s\n", f[10], f[6], f[1] } }' "$OUT/scale.csv"; } \
        > "$OUT/scale_loss.data"
    awk -F, -v title="Scale: val loss vs optimality of the last hidden state" -v xlabel="optimality I_out1 / I_in1 (last layer)" \
        -v ylabel="val loss (nats/token)" -f dev/experiments/scatter.awk "$OUT/scale_loss.data" > "$OUT/scale_loss.svg"
    rm -f "$OUT/scale_plane.data" "$OUT/scale_loss.data"
    say "wrote $OUT/scale.csv, $OUT/scale_plane.svg, $OUT/scale_loss.svg"
    column -s, -t < "$OUT/scale.csv"
}

exp_dpo() {
    local steps=${STEPS:-$([ "$SHORT" = 1 ] && echo 20 || echo 1200)}
    local dsteps=$([ "$SHORT" = 1 ] && echo 6 || echo 150)
    local every=$([ "$SHORT" = 1 ] && echo 10 || echo 60)
    local devery=$([ "$SHORT" = 1 ] && echo 3 || echo 25)
    local seqs=$([ "$SHORT" = 1 ] && echo 8 || echo 64)
    if ! grep -q -- '--dpo-steps' <<< "$HELP"; then
        say "SKIP: this ./train has no DPO stage (--dpo-steps); merge the DPO work first"; exit 1
    fi
    local prompts=$([ "$SHORT" = 1 ] && echo 16 || echo 128)
    train_run "$OUT/run" "" --steps "$steps" --probe-every "$every" --eval-every "$every" --probe-seqs "$seqs" \
        --save-every 0 --dpo-steps "$dsteps" --dpo-eval-every "$devery" --dpo-prompts "$prompts"
    # per layer: pre-training information at the end of pre-training and after DPO; I_pref at the
    # first and last DPO probe
    local pc="$OUT/run/probes.csv"
    echo "layer,I_in1_pretrain,I_in1_dpo,I_out1_pretrain,I_out1_dpo,optimality_pretrain,optimality_dpo,I_pref_first,I_pref_last" > "$OUT/dpo.csv"
    awk -F, 'NR == 1 { next }
        $2 == "pretrain" { if ($1 + 0 >= pl[$3]) { pl[$3] = $1 + 0; pin[$3] = $5; pout[$3] = $8; popt[$3] = $12 } }
        $2 == "dpo" { l = $3; s = $1 + 0
            if (!(l in df) || s < df[l]) { df[l] = s; pf[l] = $11 }
            if (!(l in dl) || s >= dl[l]) { dl[l] = s; pln[l] = $11; din[l] = $5; dout[l] = $8; dopt[l] = $12 } }
        END { for (l in pin) printf "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", l, pin[l], din[l], pout[l], dout[l], popt[l], dopt[l], pf[l], pln[l] }' \
        "$pc" | sort -t, -k1,1n >> "$OUT/dpo.csv"
    grep -E '^(dpo done|sentiment)' "$OUT/run.log" || true
    say "wrote $OUT/dpo.csv; figures: $OUT/run/preference.svg, $OUT/run/info_plane.svg (DPO rows dashed)"
    column -s, -t < "$OUT/dpo.csv"
}

# Pearson and Spearman correlation of columns 1 and 2 of stdin ("x,y" lines).
corr() {
    awk -F, '{ n++; x[n] = $1 + 0; y[n] = $2 + 0 }
        function pearson(a, b,   i, ma, mb, sab, saa, sbb) {
            for (i = 1; i <= n; i++) { ma += a[i]; mb += b[i] }
            ma /= n; mb /= n
            for (i = 1; i <= n; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ^ 2; sbb += (b[i] - mb) ^ 2 }
            return (saa > 0 && sbb > 0) ? sab / sqrt(saa * sbb) : "nan"
        }
        function ranks(a, r,   i, j, less, eq) {
            for (i = 1; i <= n; i++) { less = 0; eq = 0
                for (j = 1; j <= n; j++) { if (a[j] < a[i]) less++; else if (a[j] == a[i]) eq++ }
                r[i] = less + (eq + 1) / 2 }
        }
        END { if (n < 3) { print n ",nan,nan"; exit } ranks(x, rx); ranks(y, ry); printf "%d,%s,%s\n", n, pearson(x, y), pearson(rx, ry) }'
}

exp_optimality() {
    local src=() d
    for d in "$ROOT/two_phases$SUFFIX"/*/ "$ROOT/scale$SUFFIX"/*/ "$ROOT/scale-shakespeare$SUFFIX"/*/; do
        [ -f "$d/probes.csv" ] && [ -f "$d/train.csv" ] && src+=("${d%/}")
    done
    if [ ${#src[@]} -eq 0 ]; then
        say "no runs found under $ROOT/two_phases$SUFFIX or $ROOT/scale$SUFFIX: run those experiments first"; exit 1
    fi
    # every (run, step, layer) where both a probe row and a val loss exist
    echo "run,step,layer,optimality,I_in1,I_out1,val_loss" > "$OUT/optimality_points.csv"
    for d in "${src[@]}"; do
        awk -F, -v run="$(basename "$(dirname "$d")")/$(basename "$d")" '
            FNR == 1 { f++; next }
            f == 1 { if ($2 == "pretrain" && $4 != "") vl[$1 + 0] = $4; next }
            $2 == "pretrain" && (($1 + 0) in vl) && $12 != "" { printf "%s,%s,%s,%s,%s,%s,%s\n", run, $1, $3, $12, $5, $8, vl[$1 + 0] }' \
            "$d/train.csv" "$d/probes.csv" >> "$OUT/optimality_points.csv"
    done
    # per layer and pooled; once over every probe step, once without step 0 (the untrained model,
    # whose val loss ~ ln V sits far from every other point and can dominate a correlation)
    echo "layer,points,pearson,spearman,points_after_step0,pearson_after_step0,spearman_after_step0" > "$OUT/optimality.csv"
    local layers
    layers=$(awk -F, 'NR > 1 { print $3 }' "$OUT/optimality_points.csv" | sort -n -u)
    for l in $layers all; do
        local a b
        a=$(awk -F, -v l="$l" 'NR > 1 && (l == "all" || $3 == l) { print $4 "," $7 }' "$OUT/optimality_points.csv" | corr)
        b=$(awk -F, -v l="$l" 'NR > 1 && $2 > 0 && (l == "all" || $3 == l) { print $4 "," $7 }' "$OUT/optimality_points.csv" | corr)
        echo "$l,$a,$b" >> "$OUT/optimality.csv"
    done
    { echo "x,y,group,label"; awk -F, 'NR > 1 { printf "%s,%s,layer %s,\n", $4, $7, $3 }' "$OUT/optimality_points.csv"; } > "$OUT/opt.data"
    awk -F, -v title="Optimality vs val loss (probe steps of two_phases and scale runs)" \
        -v xlabel="optimality I_out1 / I_in1" -v ylabel="val loss (nats/token)" -f dev/experiments/scatter.awk "$OUT/opt.data" \
        > "$OUT/optimality.svg"
    rm -f "$OUT/opt.data"
    say "runs: ${src[*]}"
    say "wrote $OUT/optimality_points.csv, $OUT/optimality.csv, $OUT/optimality.svg"
    column -s, -t < "$OUT/optimality.csv"
    # end of pre-training only, last hidden state (ln_f): one point per run, correlated within each data
    # set (val losses of different data sets are not comparable); these are the across-model points
    echo "run,data,val_loss,optimality_last_layer" > "$OUT/optimality_end.csv"
    for d in "${src[@]}"; do
        local data=corpus
        case "$d" in *shakespeare*) data=shakespeare ;; esac
        final_rows "$d/probes.csv" pretrain | tail -n 1 | awk -F, -v run="$(basename "$(dirname "$d")")/$(basename "$d")" \
            -v data="$data" -v vl="$(final_val "$d/train.csv")" '{ printf "%s,%s,%s,%s\n", run, data, vl, $12 }' \
            >> "$OUT/optimality_end.csv"
    done
    echo "data,runs,pearson,spearman" > "$OUT/optimality_end_corr.csv"
    for data in corpus shakespeare; do
        echo "$data,$(awk -F, -v g="$data" 'NR > 1 && $2 == g { print $4 "," $3 }' "$OUT/optimality_end.csv" | corr)" \
            >> "$OUT/optimality_end_corr.csv"
    done
    say "wrote $OUT/optimality_end.csv, $OUT/optimality_end_corr.csv (end of pre-training, last layer, per data set)"
    column -s, -t < "$OUT/optimality_end.csv"
    column -s, -t < "$OUT/optimality_end_corr.csv"
    # the preference property after DPO: one point per scale size (optimality at the end of pre-training,
    # positive-sentiment rate after the same DPO stage); few points, so the correlation is only indicative
    local sc="$ROOT/scale$SUFFIX/scale.csv"
    if [ -f "$sc" ] && [ "$(awk -F, 'NR > 1 && $12 != "" { n++ } END { print n + 0 }' "$sc")" -gt 0 ]; then
        echo "layer,sizes,pearson_rate_after,spearman_rate_after,pearson_rate_gain,spearman_rate_gain" > "$OUT/optimality_dpo.csv"
        for l in $(awk -F, 'NR > 1 { print $7 }' "$sc" | sort -n -u); do
            local a b
            a=$(awk -F, -v l="$l" 'NR > 1 && $7 == l && $12 != "" { print $10 "," $12 }' "$sc" | corr)
            b=$(awk -F, -v l="$l" 'NR > 1 && $7 == l && $12 != "" { print $10 "," $12 - $11 }' "$sc" | corr | cut -d, -f2-)
            echo "$l,$a,$b" >> "$OUT/optimality_dpo.csv"
        done
        # each size's last hidden state (ln_f), whatever its depth
        local lastrows a b
        lastrows=$(awk -F, 'NR > 1 && $12 != "" { if ($7 + 0 >= maxl[$1] + 0) { maxl[$1] = $7; row[$1] = $0 } }
            END { for (s in row) print row[s] }' "$sc")
        a=$(awk -F, '{ print $10 "," $12 }' <<< "$lastrows" | corr)
        b=$(awk -F, '{ print $10 "," $12 - $11 }' <<< "$lastrows" | corr | cut -d, -f2-)
        echo "last,$a,$b" >> "$OUT/optimality_dpo.csv"
        { echo "x,y,group,label"; awk -F, 'NR > 1 && $12 != "" { if ($7 + 0 >= maxl[$1] + 0) { maxl[$1] = $7; row[$1] = $10 "," $12 } }
            END { for (s in row) printf "%s,sizes,%s\n", row[s], s }' "$sc"; } > "$OUT/optdpo.data"
        awk -F, -v title="Scale runs: positive rate after DPO vs optimality before it (last layer)" \
            -v xlabel="optimality I_out1 / I_in1 of the last hidden state, end of pre-training" \
            -v ylabel="positive continuations after DPO (fraction)" -f dev/experiments/scatter.awk "$OUT/optdpo.data" \
            > "$OUT/optimality_dpo.svg"
        rm -f "$OUT/optdpo.data"
        say "wrote $OUT/optimality_dpo.csv, $OUT/optimality_dpo.svg (from $sc)"
        column -s, -t < "$OUT/optimality_dpo.csv"
    else
        say "no DPO rates in $sc: run the scale experiment (it runs DPO after pre-training) for the preference part"
    fi
}

say "start ($([ "$SHORT" = 1 ] && echo "short check" || echo "full size"), ./train --ib-bound: $([ "$HAS_IB" = 1 ] && echo yes || echo "no, dev/ib_bound instead"))"
"exp_$NAME"
say "finished in $(( $(date +%s) - T0 )) s"
