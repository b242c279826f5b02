"""Score a folder of raw videos with an ensemble and write submission.csv (see conf/predict.yaml).

python predict.py recipe=ntech videos=test_videos out=submission.csv
python predict.py videos=dfdc_train_part_0 labels=dfdc_train_part_0/metadata.json ensemble=robustforensics
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from src.inference.run import run
from src.utils.recipe import check_recipe


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    check_recipe(cfg, "predict")
    run(cfg)


if __name__ == "__main__":
    main()
