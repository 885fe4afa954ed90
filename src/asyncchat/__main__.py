from asyncchat.cli import main

raise SystemExit(main())
