"""The catalog against the five documents: one test per defect the audit of every printed figure found
(Columbia's missing claims and figures, [U] marks, Jay4869's 3.75-point claim and notes, the blog's
29 July revision and like-with-like best, ZAM's derived claims, Wang §4.2) and the README's counts."""

import re
from pathlib import Path

import pytest

from pipeline.catalog import Claim, get_configuration, load_catalog
from pipeline.report.claim_kinds import CitedClaimResult, CostClaimResult, evaluate_claims

SOURCES = load_catalog()
IDS = ("columbia-e4040", "jay4869-keras", "reu-blog-2019", "zam", "wang2017")
COLUMBIA, JAY, BLOG, ZAM, WANG = (SOURCES[s] for s in IDS)
C100_ARL = "CIFAR-100, Attention-56, Adam, Mixed [sic: spatial], ARL"
C100_NAL = "CIFAR-100, Attention-56, Adam, Mixed, NAL"


def claim(source, starts: str) -> Claim:
    found = [c for c in source.claims if c.text.startswith(starts)]
    assert len(found) == 1, f"{len(found)} claims start with {starts!r}"
    return found[0]


# --- Columbia (seed 001) -------------------------------------------------------------------------
def test_columbia_cifar100_time_ratio_sits_beside_the_cifar10_ones():
    ratios = {(r.numerator, r.denominator) for r in COLUMBIA.tables["figure31"].ratios}
    assert (C100_NAL, C100_ARL) in ratios  # §7.2 "almost comparable training time of 47 seconds"
    cells = COLUMBIA.reported_cells()
    column = "Approx. Training Time per Epoch"
    assert [cells[("figure31", row, column)][1].value for row in (C100_NAL, C100_ARL)] == [47, 47]


def test_columbia_test_matches_validation_claim_is_cited_with_the_printed_pair():
    c = claim(COLUMBIA, "§7.3: 'the test accuracies were comparable to the validation")
    assert c.cited and "84.70" in c.text and "86.65" in c.text
    reported = {r.metric: r.value for r in COLUMBIA.configurations[c.better].reported}
    assert (reported["final_val_acc"], reported["top1_acc"]) == (84.70, 86.65)


def test_columbia_gap_to_the_paper_claims_carry_the_report_and_paper_figures():
    a92 = claim(COLUMBIA, "§8.1: the team's Attention-92")
    c100 = claim(COLUMBIA, "§8.1: 'For CIFAR-100")
    assert a92.cited and c100.cited and "17% lower" in a92.text and "45%" in c100.text
    paper = {(r.table, r.row, r.column): r.value for c in WANG.configurations.values() for r in c.reported}
    assert paper[("table6", "Attention-92", "CIFAR-10")] == 4.99 and "95.01" in a92.text
    assert paper[("table6", "Attention-452", "CIFAR-100")] == 20.45 and "20.45" in c100.text
    assert 100 - 78.74 / 95.01 * 100 == pytest.approx(17.1, abs=0.05)


def test_columbia_parameter_claim_is_counted_against_the_papers_figure():
    c = claim(COLUMBIA, "§8.1: 'we have built this model with 9.3 million")
    assert (c.kind, c.metric, c.reference, c.better) == ("cost", "params", 1.9e6, "columbia-a92-c10-spatial-arl")
    assert 9.3 / 1.9 == pytest.approx(c.ratio, abs=c.ratio_tolerance)  # the report's own arithmetic holds
    (result,) = [r for r in evaluate_claims(COLUMBIA, {}, "full") if r.claim == c]
    assert isinstance(result, CostClaimResult) and "our reconstruction" in result.sentence()


def test_columbia_dense_and_evaluate_timing_figures_are_cited():
    params = COLUMBIA.tables["parameters"].cited
    assert {row: cells["Dense params"] for row, cells in params.items()} == {
        row: 51300 if row.startswith("CIFAR-100") else 5130 for row in params
    }
    evaluate = COLUMBIA.tables["evaluate"]
    timing = {row: (cells["Evaluate Time"], cells["Evaluate Time per Step"]) for row, cells in evaluate.cited.items()}
    assert timing["CIFAR-10, Attention-56, Adam, Mixed, ARL"] == (4, 14)  # Figure 7: "4s 14ms/step"
    assert timing["CIFAR-10, Attention-92, Nesterov SGD with momentum, Spatial, ARL"] == (10, 22)  # Figure 19
    assert "T4" in evaluate.notes and "313" in evaluate.notes


def test_columbia_notes_record_patience_10_and_the_49_percent_restatement():
    assert "patience level of 10 initially" in COLUMBIA.configurations["columbia-a56-c10-spatial-arl"].notes
    restated = claim(COLUMBIA, "§2.2 (restating the paper)")
    assert restated.cited and restated.better is None and "49%" in restated.text and "46%" in restated.text


def test_columbia_assumed_epoch_cap_and_a92_batch_are_marked_unknown():
    for name, section in (
        ("columbia-a56-c10-mixed-nal", "§6.3"),
        ("columbia-a56-c100-mixed-nal", "§6.5"),
        ("columbia-a56-c100-spatial-arl", "§6.6"),
    ):
        assert re.search(rf"EPOCH CAP ASSUMED\s+\[U\]: {section}", COLUMBIA.configurations[name].notes), name
    a92 = COLUMBIA.configurations["columbia-a92-c10-spatial-arl"].notes
    assert "BATCH SIZE ASSUMED [U]" in a92 and "EPOCH CAP 250 ASSUMED [U]" in a92
    figure31 = COLUMBIA.tables["figure31"].notes
    assert "batch 64, 625 steps" not in figure31 and "64 is our assumption [U]" in figure31


# --- Jay4869 (seed 002) --------------------------------------------------------------------------
def test_jay4869_375_claim_tests_the_direction_only():
    c = claim(JAY, "Attention-56 performance drops with NAL")
    assert c.reported_effect == 3.75 and c.metric == "top1_error"
    assert "leaked-validation" in c.text and "only the direction" in c.text
    arl = {r.column: r.metric for r in JAY.configurations["jay4869-a56-arl"].reported if r.table == "results"}
    assert arl == {"ARL (error)": "final_val_error"}  # the 5.28 is the leaked validation error


def test_jay4869_notes_record_the_readme_network_table_and_the_notebook_facts():
    a56 = JAY.configurations["jay4869-a56-arl"].notes
    assert "no stage-3 rows" in a56 and "Dropout" in a56
    assert get_configuration("jay4869-a56-arl").model_options["dropout"] == 0.0
    a92 = JAY.configurations["jay4869-a92-arl"].notes
    assert "Epoch 00070: early stopping" in a92 and "403.1 min" in a92 and "~72 epochs" not in a92
    assert "cell 7: EarlyStopping patience 10" in a92 and "Patience 10 is assumed" not in a92
    assert "TF 2.0.0 / Keras 2.2.4-tf" in a92 and "TF 1.10.0 / Keras 2.1.6-tf" in a56
    assert get_configuration("jay4869-a92-arl").recipe.early_stopping.patience == 10


# --- blog (seed 000) -----------------------------------------------------------------------------
def test_blog_29_july_revision_is_its_own_table_and_labelled():
    assert not any("29 Jul" in row for row in BLOG.tables["figure1"].rows)
    assert set(BLOG.configurations_in("revision-29jul")) == {"blog-preactresnet50"}
    assert "not in seed 000" in BLOG.tables["revision-29jul"].caption
    revision = [c for c in BLOG.claims if "blog-preactresnet50" in (c.better, *c.worse_arms)]
    assert len(revision) == 2 and all(c.text.startswith("29 July revision (not in seed 000)") for c in revision)


def test_blog_control_is_compared_over_the_same_150_epochs():
    control = "blog-resnet50-300ep"
    assert get_configuration(control).recipe.best_window == (1, 150)
    best = {r.column: (r.metric, r.value) for r in BLOG.configurations[control].reported}
    assert best["best (%)"] == ("best_window_test_acc", 77.61)  # the log's best over epochs 1-150
    assert best["best over 300 epochs (%)"] == ("best_test_acc", 77.73)
    epochs, values = BLOG.configurations[control].reported_curves[0].series("test", "accuracy")
    assert max(v for e, v in zip(epochs, values, strict=True) if e <= 150) == 77.61
    against = [c for c in BLOG.claims if control in (c.better, *c.worse_arms)]
    assert len(against) == 4 and all(c.metric == "best_window_test_acc" for c in against)
    for c in against:  # the arms ran 150 epochs: best_test_acc is their best over epochs 1-150
        other = c.worse if c.better == control else c.better
        figure = next(r.value for r in BLOG.configurations[other].reported if r.metric == "best_test_acc")
        assert c.reported_effect == pytest.approx(abs(figure - 77.61), abs=1e-9)


# --- ZAM (seed 004) ------------------------------------------------------------------------------
def test_zam_table_derived_claims_are_labelled():
    derived = [c for c in ZAM.claims if c.text.startswith("Not stated in the README text, shown by its table")]
    assert len(derived) == 7  # three labelled before, four now
    four = ("ZAM(Avg) beats CBAM", "ZAM(Avg&Max) beats CBAM", "ZAM+R beats the plain MobileNet", "ZAM+R beats ZAM")
    for text in four:
        assert any(text in c.text for c in derived), text


def test_zam_note_names_global_settings_py():
    notes = ZAM.configurations["zam-resnet18"].notes
    assert "conf/global_settings.py" in notes and "only stored as a .pyc" not in notes


# --- Wang (paper) --------------------------------------------------------------------------------
def test_wang_section_4_2_claims_are_cited():
    results = {r.claim.text: r for r in evaluate_claims(WANG, {}, "full")}
    for start, figures in (
        ("§4.2: AttentionNeXt-56 matches ResNeXt-101", ("31.9M vs 44.5M", "6.3G vs 7.8G")),
        ("§4.2: AttentionInception-56 beats Inception-ResNet-v1", ("0.94", "0.21")),
        ("§4.2: Attention-56 beats ResNet-152 on top-5 by 0.26", ("5.9% vs 6.16%",)),
    ):
        c = claim(WANG, start)
        assert isinstance(results[c.text], CitedClaimResult) and "ImageNet" in c.why
        assert all(f in c.text for f in figures)
    assert round(21.3 - 20.36, 2) == 0.94 and round(5.5 - 5.29, 2) == 0.21 and round(6.16 - 5.9, 2) == 0.26


def test_wang_a92_flop_share_line_blames_the_reconstruction():
    c = claim(WANG, "Attention-92 needs 69% of ResNet-200's FLOPs")
    assert abs(10.4 / 15.0 - c.ratio) <= c.ratio_tolerance  # the paper's own figures hold
    (result,) = [r for r in evaluate_claims(WANG, {}, "full") if r.claim == c]
    assert result.verdict == "does not hold"  # our build's 10.53 GMACs
    assert "finding about our reconstruction, not against the paper" in result.sentence()


# --- README --------------------------------------------------------------------------------------
def test_readme_source_counts_come_from_the_catalog():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    total = re.search(r"Sources \(one catalog file each in `reproduce/`[^;]*; (\d+) configurations in all", readme)
    assert total and int(total.group(1)) == sum(len(s.configurations) for s in SOURCES.values())
    table = re.findall(r"^\| `([a-z0-9-]+)` \|", readme.split("## The two commands")[0], re.M)
    assert sorted(table) == sorted(SOURCES)
    columbia = next(line for line in readme.splitlines() if line.startswith("| `columbia-e4040`"))
    for reported in ("test accuracy", "test loss", "validation accuracy", "parameter counts", "CIFAR-100"):
        assert reported in columbia


def test_only_a_cited_claim_may_leave_out_the_winning_arm():
    assert Claim(text="t", metric="top1_error", cited=True, why="needs ImageNet").better is None
    with pytest.raises(ValueError, match="names the configuration expected to win"):
        Claim(text="t", worse="b", metric="top1_error")
