from ferrite_tui.cli import main

raise SystemExit(main())
