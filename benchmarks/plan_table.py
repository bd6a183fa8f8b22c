"""The plan of each winners' recipe on each hardware profile, as a Markdown table for BENCHMARKS.md.

    .venv/bin/python benchmarks/plan_table.py                   # wsdm and lmsys, every shipped profile
    .venv/bin/python benchmarks/plan_table.py --competitions wsdm --recipes gemma2-9b-qlora

The same arithmetic as `submit plan` (models/llm/plan.py), from the shipped configs: no weights, no GPU.
"""

from __future__ import annotations

import argparse

from submit.cv.recipe import load_recipe
from submit.kernel.plugins import get_competition
from submit.models.llm.plan import hardware_profiles, hours

from submit.plan import plan_recipe

RECIPES = ("gemma2-9b-qlora", "gemma2-9b-distill", "qwen2.5-14b-qlora")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competitions", nargs="+", default=["wsdm", "lmsys"])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    args = parser.parse_args()
    print("| competition | recipe | hardware | peak GiB / GPU | weights | activations | training | inference "
          "(limit) | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.competitions:
        comp = get_competition(name)
        for recipe_name in args.recipes:
            overrides = ["distill_from=teacher-id"] if "distill" in recipe_name else []
            recipe = load_recipe(comp, recipe_name, overrides)
            for gpus in hardware_profiles().values():
                plan = plan_recipe(comp, recipe, gpus)
                fitting = [line.split(": ")[0] for line in plan.suggestions if line.endswith("(fits)")]
                verdict = "fits" if not plan.problems() else "; ".join(plan.problems()) + (
                    f"; fits with {fitting[0]}" if fitting else "; no single knob is enough")
                print(f"| {name} | {recipe_name} | {gpus.name} | {plan.peak_gib:.1f} of {gpus.memory_gib:g} | "
                      f"{plan.memory['weights'] / 2**30:.1f} | {plan.memory['activations'] / 2**30:.1f} | "
                      f"{hours(plan.train_s)} | {hours(plan.infer_s)} ({comp.notebook_limit_h:g} h) | {verdict} |")


if __name__ == "__main__":
    main()
