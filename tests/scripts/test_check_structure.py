"""The structure check flags long modules and unexplained function-local imports, and nothing else."""

from scripts.check_structure import MAX_LINES, findings


def test_an_unexplained_local_import_is_flagged_and_an_explained_one_is_not(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def a():\n    import json\n    import os\n\n\ndef b():\n    # Loaded only here: heavy.\n    import json\n")
    assert findings(module) == [f"{module}:2: function-local import without a comment saying why"]


def test_a_long_module_is_flagged(tmp_path):
    module = tmp_path / "long.py"
    module.write_text("x = 1\n" * (MAX_LINES + 1))
    assert findings(module) == [f"{module}: {MAX_LINES + 1} lines, more than {MAX_LINES}"]
