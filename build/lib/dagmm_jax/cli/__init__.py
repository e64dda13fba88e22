"""The command-line programs (console commands ``dagmm-*``, also ``scripts/*.py``);
``common`` holds what they share."""
