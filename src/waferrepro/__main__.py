import sys

from .cli import main

# The guard matters: engines that start worker processes with "spawn" (vLLM) re-import the
# main module in each child, which must not run the command again.
if __name__ == "__main__":
    sys.exit(main())
