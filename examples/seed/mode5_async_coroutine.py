#coding:utf-8
 
import squall.web
import squall.httpserver
import squall.options
import squall.ioloop
import squall.gen
 
from squall.options import options , define
define("port",default=8001,help="跑在8001",type=int)
 
import time
class SleepHandler(squall.web.RequestHandler):
    """
        使用yield得到了一个生成器，先把流程挂起，等完全完毕，再唤醒继续执行。另，生成器都是异步的。
    """
    @squall.gen.coroutine
    def get(self):
        yield squall.gen.Task(squall.ioloop.IOLoop.instance().add_timeout, time.time() + 5)
        self.write("this is SleepHandler...")
 
 
class DirectHandler(squall.web.RequestHandler):
    def get(self):
        self.write("this is DirectHandler...")
 
if __name__ == "__main__":
    squall.options.parse_command_line()
    app = squall.web.Application(
        handlers = [
            (r"/d",DirectHandler),
            (r"/s",SleepHandler),
        ],
        debug = False
    )
    http_server = squall.httpserver.HTTPServer(app)
    http_server.bind(options.port)
    http_server.start(1)
    squall.ioloop.IOLoop.instance().start()
