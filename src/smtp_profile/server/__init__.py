"""HTTP adapter: the app assembly, the shared request helpers, the Keyfactor API routes
(`api/`) and the web page's routes (`page/`)."""
