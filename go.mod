module github.com/legatohq/legato

go 1.26.8
