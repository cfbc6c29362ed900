"""``python -m hoi_ros.pam``: a sim request → PAM video + contact sheet (:mod:`hoi_ros.pam.generate`)."""

import sys

from hoi_ros.pam.generate import main

sys.exit(main())
