document.querySelectorAll("img").forEach((img) => { img.loading = "lazy"; });
